//! Assets (placeholder).
