//! The command language: a nom lexer, a typed AST and the registry that
//! drives parsing, help and completion. Nothing here touches storage.

pub mod ast;
pub mod lexer;
pub mod mask;
pub mod parse;
pub mod registry;

pub use ast::{
    Clearable, Command, ExtensionsCommand, KeyCommand, McpCommand, ProfileCommand, SetCommand,
};
pub use parse::{ParseError, parse_line};
