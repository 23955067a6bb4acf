//! A minimal origin server for benchmarks while the full binary is not at hand:
//! `web_serve --root DIR --listen ADDR [--max-connections N] [--idle-timeout SECS]`
//! (the same flags as `applayer web serve`, no access log, one worker thread).

use std::time::Duration;

fn main() -> std::io::Result<()> {
    let mut config = web::WebServerConfig::new(".");
    config.access_log = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        match flag.as_str() {
            "--root" => config.root = value.into(),
            "--listen" => config.listen = vec![value.parse().expect("--listen ADDR")],
            "--max-connections" => {
                config.max_connections = value.parse().expect("--max-connections N")
            }
            "--idle-timeout" => {
                config.timeouts.idle =
                    Duration::from_secs_f64(value.parse().expect("--idle-timeout SECS"))
            }
            other => panic!("unknown flag {other}"),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = web::bind(config).await?;
        server.run(netio::Shutdown::new()).await
    })
}
