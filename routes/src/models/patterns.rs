//! `allow_patterns` / `ignore_patterns` with huggingface_hub's rules: fnmatch globs where `*`
//! also crosses `/`, and a pattern ending in `/` meaning everything below that folder.

use glob::Pattern;
use serde::Deserialize;

/// One pattern or a list, as the old API accepted both.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Patterns {
    One(String),
    Many(Vec<String>),
}

impl Patterns {
    fn compile(&self) -> Result<Vec<Pattern>, String> {
        let list = match self {
            Patterns::One(p) => std::slice::from_ref(p),
            Patterns::Many(list) => list.as_slice(),
        };
        list.iter()
            .map(|p| {
                let p = if p.ends_with('/') {
                    format!("{p}*")
                } else {
                    p.clone()
                };
                Pattern::new(&p).map_err(|e| format!("Invalid pattern '{p}': {e}"))
            })
            .collect()
    }
}

/// Keeps the files that match an allow pattern (when any are given) and no ignore pattern.
pub struct Filter {
    allow: Option<Vec<Pattern>>,
    ignore: Vec<Pattern>,
}

impl Filter {
    pub fn new(allow: Option<&Patterns>, ignore: Option<&Patterns>) -> Result<Filter, String> {
        Ok(Filter {
            allow: allow.map(Patterns::compile).transpose()?,
            ignore: ignore
                .map(Patterns::compile)
                .transpose()?
                .unwrap_or_default(),
        })
    }

    pub fn keeps(&self, path: &str) -> bool {
        let allowed = self
            .allow
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| p.matches(path)));
        allowed && !self.ignore.iter().any(|p| p.matches(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_rules() {
        let f = Filter::new(
            Some(&Patterns::Many(vec!["*.json".into(), "onnx/".into()])),
            Some(&Patterns::One("*secret*".into())),
        )
        .unwrap();
        assert!(f.keeps("config.json"));
        assert!(f.keeps("sub/dir/x.json"));
        assert!(f.keeps("onnx/model.onnx"));
        assert!(!f.keeps("model.bin"));
        assert!(!f.keeps("secret.json"));
        assert!(Filter::new(None, None).unwrap().keeps("anything"));
        assert!(Filter::new(Some(&Patterns::One("[".into())), None).is_err());
    }
}
