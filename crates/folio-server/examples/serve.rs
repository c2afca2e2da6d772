//! Serves a paged store over RESP for manual testing with `redis-cli` or
//! `redis-benchmark`: `cargo run -p folio-server --example serve -- DIR [PORT]`.

use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: serve DIR [PORT]")?;
    let port = match args.next() {
        Some(port) => port.parse()?,
        None => 6379,
    };
    let store = folio::open("paged", dir.as_ref(), &folio::Config::default())?;
    let config = folio_server::ServerConfig {
        port,
        ..Default::default()
    };
    folio_server::run(folio_server::Stores::kv_only(Arc::from(store)), config)?;
    Ok(())
}
