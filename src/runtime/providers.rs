//! The providers keyshell knows, as data.

/// A provider and the environment variable its key may come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Provider {
    pub name: &'static str,
    pub env_var: Option<&'static str>,
}

pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "openai",
        env_var: Some("OPENAI_API_KEY"),
    },
    Provider {
        name: "anthropic",
        env_var: Some("ANTHROPIC_API_KEY"),
    },
    Provider {
        name: "gemini",
        env_var: Some("GEMINI_API_KEY"),
    },
    Provider {
        name: "openrouter",
        env_var: Some("OPENROUTER_API_KEY"),
    },
    Provider {
        name: "groq",
        env_var: Some("GROQ_API_KEY"),
    },
    Provider {
        name: "ollama",
        env_var: None,
    },
];

pub const DEFAULT_PROVIDER: &str = "openai";

pub fn find(name: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    PROVIDERS.iter().map(|p| p.name)
}
