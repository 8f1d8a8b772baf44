//! The built-in node kinds: their names, input and output handles, and the data each needs.

/// Whether an input must be present before the node can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Connected by an edge, or the node fails validation.
    Edge,
    /// Connected, or given as the data field of the same name.
    EdgeOrData,
    /// May be left out.
    Optional,
}

/// Handles a kind accepts as edge targets.
pub enum Inputs {
    Fixed(&'static [(&'static str, Need)]),
    /// Any name (a template's variables).
    Named,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    InputText,
    InputNumber,
    InputBoolean,
    InputJson,
    Output,
    TextTemplate,
    JsonGet,
    LlmChat,
    CollectionQuery,
    StorageRead,
    StorageWrite,
    Delay,
}

pub const ALL: &[Kind] = &[
    Kind::InputText,
    Kind::InputNumber,
    Kind::InputBoolean,
    Kind::InputJson,
    Kind::Output,
    Kind::TextTemplate,
    Kind::JsonGet,
    Kind::LlmChat,
    Kind::CollectionQuery,
    Kind::StorageRead,
    Kind::StorageWrite,
    Kind::Delay,
];

impl Kind {
    pub fn parse(name: &str) -> Option<Kind> {
        ALL.iter().copied().find(|k| k.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::InputText => "input.text",
            Kind::InputNumber => "input.number",
            Kind::InputBoolean => "input.boolean",
            Kind::InputJson => "input.json",
            Kind::Output => "output",
            Kind::TextTemplate => "text.template",
            Kind::JsonGet => "json.get",
            Kind::LlmChat => "llm.chat",
            Kind::CollectionQuery => "collection.query",
            Kind::StorageRead => "storage.read",
            Kind::StorageWrite => "storage.write",
            Kind::Delay => "util.delay",
        }
    }

    pub fn inputs(self) -> Inputs {
        use Need::*;
        Inputs::Fixed(match self {
            Kind::InputText | Kind::InputNumber | Kind::InputBoolean | Kind::InputJson => &[],
            Kind::Output | Kind::JsonGet => &[("value", Edge)],
            Kind::TextTemplate => return Inputs::Named,
            Kind::LlmChat => &[("prompt", EdgeOrData), ("system", Optional)],
            Kind::CollectionQuery => &[("query", EdgeOrData)],
            Kind::StorageRead => &[("key", EdgeOrData)],
            Kind::StorageWrite => &[("key", EdgeOrData), ("text", EdgeOrData)],
            Kind::Delay => &[("value", Optional)],
        })
    }

    pub fn outputs(self) -> &'static [&'static str] {
        match self {
            Kind::InputText | Kind::InputNumber | Kind::InputBoolean | Kind::InputJson => {
                &["value"]
            }
            Kind::Output => &[],
            Kind::TextTemplate | Kind::LlmChat | Kind::StorageRead => &["text"],
            Kind::JsonGet | Kind::Delay => &["value"],
            Kind::CollectionQuery => &["documents"],
            Kind::StorageWrite => &["key"],
        }
    }

    /// Kinds that wait on something outside the engine; a cancel drops them mid-wait.
    pub fn waits(self) -> bool {
        matches!(
            self,
            Kind::LlmChat
                | Kind::CollectionQuery
                | Kind::StorageRead
                | Kind::StorageWrite
                | Kind::Delay
        )
    }
}
