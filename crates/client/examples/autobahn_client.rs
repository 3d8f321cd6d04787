//! The client's WebSocket layer as an echo client for Autobahn|Testsuite's fuzzing server
//! (`wstest -m fuzzingserver`), run by `cargo xtask autobahn`:
//!
//! ```text
//! cargo run -p switchboard-client --example autobahn_client -- ws://127.0.0.1:9001 switchboard-client
//! ```
//!
//! Asks the server how many cases it has, runs each one (echoing every message until the
//! server closes), then asks it to write its reports for the agent name given.

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use switchboard_client::engine::websocket_echo;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(server), Some(agent)) = (args.next(), args.next()) else {
        bail!("usage: autobahn_client WS_URL AGENT");
    };
    let count = case_count(&server).await?;
    println!("{count} cases");
    for case in 1..=count {
        // A case that breaks the protocol on purpose ends in an error: that is its point, and
        // the server judges it; the run goes on.
        if let Err(e) = websocket_echo(&format!("{server}/runCase?case={case}&agent={agent}")).await
        {
            println!("case {case}: {e}");
        }
    }
    websocket_echo(&format!("{server}/updateReports?agent={agent}"))
        .await
        .context("asking for the reports")?;
    println!("reports written");
    Ok(())
}

/// The server's answer to `/getCaseCount`: one text message.
async fn case_count(server: &str) -> Result<u32> {
    let url = format!("{server}/getCaseCount");
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
    let Some(msg) = ws.next().await else { bail!("{url}: closed without an answer") };
    let text = msg?.into_text()?;
    text.trim().parse().with_context(|| format!("{url}: `{text}` is not a count"))
}
