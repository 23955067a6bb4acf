//! A bare authoritative server for profiling: `dns_serve ZONEFILE ADDR` on one thread, no logging.

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(zone), Some(listen)) = (args.next(), args.next()) else {
        eprintln!("usage: dns_serve ZONEFILE ADDR");
        std::process::exit(2);
    };
    let listen = listen
        .parse()
        .map_err(|_| std::io::Error::other("bad listen address"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = dns_server::bind(dns_server::DnsServerConfig {
            listen: vec![listen],
            zones: vec![dns_server::ZoneConfig::file(zone, None)],
            ..Default::default()
        })
        .await?;
        server.run(netio::shutdown_on_signals()).await
    })
}
