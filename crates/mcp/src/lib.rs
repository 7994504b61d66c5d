//! A minimal MCP client: connect to one server as Claude Code would, list its tools, hang up.
//!
//! `mandate mcp pin` and `mandate mcp verify` need what a server *says* about its tools
//! (names, descriptions, input schemas), because that text is what the model reads and
//! what a rug-pull changes. The official Rust SDK (`rmcp`) speaks the protocol; it brings
//! tokio, so it lives in this crate, which only the CLI links. The hook never connects to
//! a server and never pays for this.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use serde_json::Value;

/// How to reach a server: the two transports Claude Code's configuration names.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Endpoint {
    /// Spawn `command args…` with `env` added, speak JSON-RPC over its stdin and stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
    },
    /// POST JSON-RPC to `url` (MCP streamable HTTP), with these extra headers.
    Http {
        url: String,
        headers: BTreeMap<String, String>,
    },
}

/// What a server says about one tool.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Value,
}

/// What the server says about itself and its tools.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Listing {
    /// `serverInfo.name` and `serverInfo.version` from the handshake.
    pub server_name: Option<String>,
    pub server_version: Option<String>,
    /// The server's `instructions`: text the model reads too, so it is pinned as well.
    pub instructions: Option<String>,
    pub tools: Vec<ToolInfo>,
}

#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("the MCP handshake with the server failed: {0}")]
    Handshake(String),
    #[error("the server did not answer `tools/list`: {0}")]
    ListTools(String),
    #[error("the server did not answer within {0} seconds")]
    Timeout(u64),
    #[error("header `{0}` is not a valid HTTP header")]
    Header(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// The client binary reported an error (its message).
    #[error("{0}")]
    Remote(String),
}

/// The binary that runs [`list_tools`] for the CLI, so the `mandate` binary (which is
/// also the hook) never links the async runtime and HTTP client this crate needs.
pub const LIST_BINARY: &str = "mandate-mcp-list";

/// List a server's tools through the [`LIST_BINARY`] beside the running executable
/// (`$MANDATE_MCP_LIST_BIN` overrides): the endpoint goes in as JSON on stdin, the listing
/// comes back as JSON on stdout, an error as text on stderr.
pub fn list_tools_via_binary(endpoint: &Endpoint, timeout: Duration) -> Result<Listing, McpError> {
    use std::io::Write;
    let binary = std::env::var_os("MANDATE_MCP_LIST_BIN")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .and_then(|exe| exe.parent().map(|dir| dir.join(LIST_BINARY)))
        })
        .unwrap_or_else(|| PathBuf::from(LIST_BINARY));
    let request = serde_json::to_vec(endpoint).map_err(|e| McpError::Handshake(e.to_string()))?;
    let mut child = std::process::Command::new(&binary)
        .arg(timeout.as_secs().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| McpError::Spawn {
            command: format!(
                "{} (the MCP client; build it with `cargo build -p mandate-mcp`)",
                binary.display()
            ),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(&request)
            .map_err(|e| McpError::Handshake(e.to_string()))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| McpError::Handshake(e.to_string()))?;
    if !output.status.success() {
        return Err(McpError::Remote(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    serde_json::from_slice(&output.stdout).map_err(|e| McpError::Handshake(e.to_string()))
}

/// Connect to the server, list all its tools (following pagination) and close.
pub fn list_tools(endpoint: &Endpoint, timeout: Duration) -> Result<Listing, McpError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(McpError::Runtime)?;
    runtime.block_on(async {
        match tokio::time::timeout(timeout, connect_and_list(endpoint)).await {
            Ok(result) => result,
            Err(_) => Err(McpError::Timeout(timeout.as_secs())),
        }
    })
}

async fn connect_and_list(endpoint: &Endpoint) -> Result<Listing, McpError> {
    match endpoint {
        Endpoint::Stdio {
            command,
            args,
            env,
            cwd,
        } => {
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args).envs(env);
            if let Some(cwd) = cwd {
                cmd.current_dir(cwd);
            }
            // The server's own diagnostics are not ours to print.
            let (transport, _stderr) = TokioChildProcess::builder(cmd)
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|source| McpError::Spawn {
                    command: command.clone(),
                    source,
                })?;
            let client = ().serve(transport).await.map_err(|e| McpError::Handshake(e.to_string()))?;
            finish(client).await
        }
        Endpoint::Http { url, headers } => {
            let mut custom = std::collections::HashMap::new();
            let mut auth = None;
            for (name, value) in headers {
                if name.eq_ignore_ascii_case("authorization") {
                    // rmcp sends this one itself, as a bearer token.
                    auth = Some(value.strip_prefix("Bearer ").unwrap_or(value).to_string());
                    continue;
                }
                let header_name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| McpError::Header(name.clone()))?;
                let header_value = http::HeaderValue::from_str(value)
                    .map_err(|_| McpError::Header(name.clone()))?;
                custom.insert(header_name, header_value);
            }
            let mut config =
                StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(custom);
            if let Some(token) = auth {
                config = config.auth_header(token);
            }
            // reqwest panics when no rustls provider is chosen (features unified with the
            // server's `rustls-no-provider`); an already installed one is kept.
            #[expect(
                deprecated,
                reason = "ring, as the rest of mandate uses (aws-lc-rs wants cmake)"
            )]
            let provider = rustls::crypto::ring::default_provider();
            let _ = provider.install_default();
            let transport = StreamableHttpClientTransport::from_config(config);
            let client = ().serve(transport).await.map_err(|e| McpError::Handshake(e.to_string()))?;
            finish(client).await
        }
    }
}

async fn finish(
    client: rmcp::service::RunningService<rmcp::RoleClient, ()>,
) -> Result<Listing, McpError> {
    let info = client.peer_info();
    let implementation = info.as_ref().and_then(|i| i.server_info.as_ref());
    let server_name = implementation.map(|i| i.name.clone());
    let server_version = implementation.map(|i| i.version.clone());
    let instructions = info.as_ref().and_then(|i| i.instructions.clone());
    let listed = client.list_all_tools().await;
    let _ = client.cancel().await;
    let tools = listed
        .map_err(|e| McpError::ListTools(e.to_string()))?
        .into_iter()
        .map(|tool| ToolInfo {
            name: tool.name.to_string(),
            description: tool.description.map(|d| d.to_string()),
            input_schema: Value::Object((*tool.input_schema).clone()),
        })
        .collect();
    Ok(Listing {
        server_name,
        server_version,
        instructions,
        tools,
    })
}
