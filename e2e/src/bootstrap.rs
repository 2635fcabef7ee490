//! Envoy bootstrap templates from `envoy/` and the values that fill their `{{placeholders}}`.
//!
//! Rendering is one left-to-right pass of plain string replacement: a value is never scanned
//! for placeholders again (a plugin configuration may itself contain `{{…}}`), and a
//! placeholder the harness does not know is an error, never left in the output.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// The jitgate bootstrap template, `envoy/bootstrap.template.yaml`.
const JITGATE_TEMPLATE: &str = include_str!("../../envoy/bootstrap.template.yaml");

/// The example plugin configuration rendered into `envoy/envoy.yaml`.
const EXAMPLE_PLUGIN_CONFIGURATION: &str = include_str!("../../envoy/plugin-config.example.json");

/// A bootstrap YAML with `{{placeholders}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapTemplate {
    name: String,
    text: String,
}

impl BootstrapTemplate {
    /// `envoy/bootstrap.template.yaml`: the listener guarded by the jitgate Wasm filter.
    pub fn jitgate() -> Self {
        Self::new("envoy/bootstrap.template.yaml", JITGATE_TEMPLATE)
    }

    /// Any other template (for example Envoy's native `jwt_authn` for interop tests).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            text: text.into(),
        }
    }

    /// This template with `text` inserted after the first line that is exactly `anchor`
    /// (trimmed), for a test that needs one more option; `None` if no line is.
    pub fn with_line_after(&self, anchor: &str, text: &str) -> Option<Self> {
        let mut lines: Vec<&str> = self.text.lines().collect();
        let at = lines.iter().position(|line| line.trim() == anchor)?;
        lines.insert(at + 1, text);
        Some(Self::new(
            format!("{} (edited)", self.name),
            lines.join("\n") + "\n",
        ))
    }

    /// The template's name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The template with every placeholder replaced by its value.
    pub fn render(&self, values: &BootstrapValues) -> Result<String> {
        let mut out = String::with_capacity(self.text.len() + values.plugin_configuration().len());
        let mut rest = self.text.as_str();
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start + 2..].find("}}") else {
                break;
            };
            let name = &rest[start + 2..start + 2 + len];
            let value = values
                .value(name)
                .ok_or_else(|| Error::UnknownPlaceholder {
                    template: self.name.clone(),
                    name: name.to_owned(),
                })?;
            out.push_str(&rest[..start]);
            out.push_str(&value);
            rest = &rest[start + 2 + len + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// The backends Envoy's clusters point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backends {
    /// The OpenAI-compatible model server (cluster `upstream`).
    pub upstream: SocketAddr,
    /// Key and revocation feed (cluster `issuer`).
    pub issuer: SocketAddr,
    /// Audit sink (cluster `collector`).
    pub collector: SocketAddr,
}

/// The Wasm module and the JSON configuration handed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterModule {
    /// The `.wasm` file (absolute, or relative to Envoy's working directory).
    pub wasm_path: PathBuf,
    /// The plugin configuration, a JSON document, passed as a `StringValue`.
    pub plugin_configuration: String,
}

/// Every value a template may ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapValues {
    /// Envoy's admin port (always on 127.0.0.1).
    pub admin_port: u16,
    /// Where the guarded HTTP listener binds.
    pub listener: SocketAddr,
    /// Cluster endpoints.
    pub backends: Backends,
    /// The filter and its configuration.
    pub filter: FilterModule,
}

impl BootstrapValues {
    /// The fixed values behind the checked-in `envoy/envoy.yaml`: listener on 10000, admin on
    /// 9901, model server on 8000, issuer on 8081, collector on 4318 (the OTLP/HTTP port), the
    /// `.wasm` path relative to the repository root and `envoy/plugin-config.example.json`.
    pub fn example() -> Self {
        let loopback = |port| SocketAddr::from(([127, 0, 0, 1], port));
        Self {
            admin_port: 9901,
            listener: loopback(10000),
            backends: Backends {
                upstream: loopback(8000),
                issuer: loopback(8081),
                collector: loopback(4318),
            },
            filter: FilterModule {
                wasm_path: PathBuf::from("target/wasm32-wasip1/release/jitgate_filter.wasm"),
                plugin_configuration: EXAMPLE_PLUGIN_CONFIGURATION.trim_end().to_owned(),
            },
        }
    }

    fn plugin_configuration(&self) -> &str {
        &self.filter.plugin_configuration
    }

    /// The rendered text of one placeholder. Strings are emitted as JSON strings, which YAML
    /// reads as double-quoted scalars, so any content is safe.
    fn value(&self, name: &str) -> Option<String> {
        let quoted = |text: &str| serde_json::Value::from(text).to_string();
        let host = |addr: SocketAddr| quoted(&addr.ip().to_string());
        let b = &self.backends;
        Some(match name {
            "admin_port" => self.admin_port.to_string(),
            "listener_host" => host(self.listener),
            "listener_port" => self.listener.port().to_string(),
            "upstream_host" => host(b.upstream),
            "upstream_port" => b.upstream.port().to_string(),
            "issuer_host" => host(b.issuer),
            "issuer_port" => b.issuer.port().to_string(),
            "collector_host" => host(b.collector),
            "collector_port" => b.collector.port().to_string(),
            "wasm_path" => quoted(&self.filter.wasm_path.to_string_lossy()),
            "plugin_configuration" => quoted(&self.filter.plugin_configuration),
            _ => return None,
        })
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn values_are_substituted_once_and_strings_are_quoted() {
        let template = BootstrapTemplate::new(
            "t",
            "port: {{admin_port}}\nconfig: {{plugin_configuration}}\n",
        );
        let mut values = BootstrapValues::example();
        values.filter.plugin_configuration = r#"{"scope": "inference:{{admin_port}}"}"#.into();
        let rendered = template.render(&values).expect("renders");
        assert_eq!(
            rendered,
            "port: 9901\nconfig: \"{\\\"scope\\\": \\\"inference:{{admin_port}}\\\"}\"\n"
        );
    }

    #[test]
    fn unknown_placeholder_is_an_error_naming_it() {
        let template = BootstrapTemplate::new("t", "x: {{listner_port}}");
        let error = template
            .render(&BootstrapValues::example())
            .expect_err("unknown placeholder");
        assert_eq!(
            error.to_string(),
            "bootstrap template t: unknown placeholder {{listner_port}}"
        );
    }

    #[test]
    fn jitgate_template_has_no_unknown_placeholders() {
        let rendered = BootstrapTemplate::jitgate()
            .render(&BootstrapValues::example())
            .expect("renders");
        assert!(!rendered.contains("{{admin_port}}"));
        assert!(rendered.contains("port_value: 10000"));
    }
}
