//! The desktop commands, read from `src/main.rs`: their names for the capability manifest
//! (build.rs) and their TypeScript signatures for the window (`ui/src/lib/commands.ts`, kept
//! current by `tests/ipc.rs`). One parser, so the names, the permissions and the calls agree.

use syn::{FnArg, GenericArgument, Item, Pat, PathArguments, ReturnType, Type};

/// One `#[tauri::command]` function.
pub struct Command {
    /// The Rust name, which is also the IPC name.
    pub name: String,
    /// The arguments the window passes: (Rust name, TypeScript type).
    pub args: Vec<(String, String)>,
    /// The TypeScript type of what it returns.
    pub returns: String,
}

/// Arguments Tauri fills in itself.
const INJECTED: [&str; 4] = ["State", "AppHandle", "Window", "WebviewWindow"];

/// A field-less enum the window passes by name (`#[serde(rename_all = "snake_case")]`).
pub struct Choice {
    pub name: String,
    pub values: Vec<String>,
}

/// Every command in `source`, in order, and the enums declared beside them.
pub fn commands(source: &str) -> Result<Vec<Command>, String> {
    Ok(parse(source)?.0)
}

/// The enums declared beside the commands.
pub fn choices(source: &str) -> Result<Vec<Choice>, String> {
    Ok(parse(source)?.1)
}

fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn parse(source: &str) -> Result<(Vec<Command>, Vec<Choice>), String> {
    let file = syn::parse_file(source).map_err(|e| format!("src/main.rs: {e}"))?;
    let mut out = Vec::new();
    let mut choices = Vec::new();
    for item in file.items {
        if let Item::Enum(e) = &item {
            let name = e.ident.to_string();
            if e.variants.iter().any(|v| !v.fields.is_empty()) {
                return Err(format!("{name}: the window passes only field-less enums"));
            }
            choices.push(Choice {
                values: e
                    .variants
                    .iter()
                    .map(|v| snake(&v.ident.to_string()))
                    .collect(),
                name,
            });
            continue;
        }
        let Item::Fn(f) = item else { continue };
        let is_command = f.attrs.iter().any(|a| {
            let segments: Vec<String> = a
                .path()
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            segments == ["tauri", "command"]
        });
        if !is_command {
            continue;
        }
        let name = f.sig.ident.to_string();
        let mut args = Vec::new();
        for input in &f.sig.inputs {
            let FnArg::Typed(arg) = input else {
                return Err(format!("{name}: a command takes no self"));
            };
            if injected(&arg.ty) {
                continue;
            }
            let Pat::Ident(ident) = &*arg.pat else {
                return Err(format!("{name}: arguments must be plain names"));
            };
            args.push((
                ident.ident.to_string(),
                typescript(&arg.ty).map_err(|e| format!("{name}: {e}"))?,
            ));
        }
        let returns = match &f.sig.output {
            ReturnType::Default => "void".to_string(),
            ReturnType::Type(_, ty) => typescript(ty).map_err(|e| format!("{name}: {e}"))?,
        };
        out.push(Command {
            name,
            args,
            returns,
        });
    }
    Ok((out, choices))
}

fn injected(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| INJECTED.contains(&s.ident.to_string().as_str())),
        _ => false,
    }
}

/// The TypeScript for a Rust type as serde sends it; named types keep their name (their
/// declarations are generated into `bindings.ts`).
fn typescript(ty: &Type) -> Result<String, String> {
    match ty {
        Type::Tuple(t) if t.elems.is_empty() => Ok("void".into()),
        Type::Tuple(t) => {
            let parts: Result<Vec<String>, String> = t.elems.iter().map(typescript).collect();
            Ok(format!("[{}]", parts?.join(", ")))
        }
        Type::Reference(r) => typescript(&r.elem),
        Type::Path(p) => {
            let last = p.path.segments.last().ok_or("an empty type path")?;
            let generics: Vec<&Type> = match &last.arguments {
                PathArguments::AngleBracketed(a) => a
                    .args
                    .iter()
                    .filter_map(|g| match g {
                        GenericArgument::Type(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let ident = last.ident.to_string();
            match (ident.as_str(), generics.as_slice()) {
                ("String" | "str" | "PathBuf", []) => Ok("string".into()),
                ("i64" | "i32" | "u32" | "u64" | "usize" | "f64", []) => Ok("number".into()),
                ("bool", []) => Ok("boolean".into()),
                ("Option", [inner]) => Ok(format!("{} | null", typescript(inner)?)),
                ("Vec", [inner]) => {
                    let inner = typescript(inner)?;
                    Ok(if inner.contains(" | ") {
                        format!("({inner})[]")
                    } else {
                        format!("{inner}[]")
                    })
                }
                ("Result", [ok, ..]) => typescript(ok),
                (_, []) if ident.starts_with(char::is_uppercase) => Ok(ident),
                _ => Err(format!(
                    "no TypeScript for `{ident}` with {} generics",
                    generics.len()
                )),
            }
        }
        _ => Err("an unsupported type".into()),
    }
}

/// `start_state` → `startState`: Tauri's names for arguments, and the window's for calls.
pub fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The capability permission that allows `command`.
pub fn permission(command: &str) -> String {
    format!("allow-{}", command.replace('_', "-"))
}

/// `ui/src/lib/commands.ts`: the enums, and one typed function per command.
pub fn module(commands: &[Command], choices: &[Choice]) -> String {
    let builtin = ["string", "number", "boolean", "void", "null"];
    let mut named = std::collections::BTreeSet::new();
    for c in commands {
        let types = c.args.iter().map(|(_, t)| t).chain([&c.returns]);
        for t in types {
            for word in t.split(|ch: char| !ch.is_alphanumeric() && ch != '_') {
                let local = choices.iter().any(|c| c.name == word);
                if !word.is_empty() && !builtin.contains(&word) && !local {
                    named.insert(word.to_string());
                }
            }
        }
    }
    let mut s = String::from(
        "// Generated from the desktop commands in src-tauri/src/main.rs by src-tauri/tests/ipc.rs;\n\
         // do not edit by hand. Each call is allowed by name in src-tauri/capabilities.\n",
    );
    s.push_str("import { call } from \"./call\";\n");
    let names: Vec<String> = named.into_iter().collect();
    s.push_str(&format!(
        "import type {{ {} }} from \"./bindings\";\n\n",
        names.join(", ")
    ));
    for c in choices {
        let values: Vec<String> = c.values.iter().map(|v| format!("\"{v}\"")).collect();
        s.push_str(&format!(
            "export type {} = {};\n",
            c.name,
            values.join(" | ")
        ));
    }
    if !choices.is_empty() {
        s.push('\n');
    }
    s.push_str("export const commands = {\n");
    for c in commands {
        let params: Vec<String> = c
            .args
            .iter()
            .map(|(n, t)| format!("{}: {t}", camel(n)))
            .collect();
        let passed: Vec<String> = c.args.iter().map(|(n, _)| camel(n)).collect();
        let payload = if passed.is_empty() {
            String::new()
        } else {
            format!(", {{ {} }}", passed.join(", "))
        };
        s.push_str(&format!(
            "  {}: ({}) => call<{}>(\"{}\"{payload}),\n",
            camel(&c.name),
            params.join(", "),
            c.returns,
            c.name
        ));
    }
    s.push_str("};\n");
    s
}
