//! The web of the seed (§2.2): an HTTP/1.x origin server and a page-fetching client.
//!
//! - Server: [`bind`] a [`WebServerConfig`], then [`WebServer::run`] until shutdown. It serves
//!   static files (GET/HEAD with validators, conditional and range requests, directory
//!   indexes), PUT/DELETE when allowed, redirects from the site config, and the cookie site
//!   with its SQLite store ([`cookie_site`]).
//! - Client: [`get`] fetches a page and the objects it references with a connection model
//!   ([`Mode`]: non-persistent, persistent, pipelined, parallel) and reports objects, bytes,
//!   TCP connections, round trips and time ([`FetchReport`]); names resolve through a
//!   pluggable [`Resolve`].
//! - Everything but [`net`] is sans-IO: routing ([`route`]), file answers ([`files`]), the
//!   cookie site's pages over a [`cookie_site::VisitStore`], configuration ([`config`]).
//! - Applications ([`App`], the web mail) mount at a path prefix ([`AppMount`] in
//!   [`WebServerConfig::apps`]).
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let mut config = web::WebServerConfig::new("/srv/www");
//! config.listen = vec!["127.0.0.1:0".parse().unwrap()];
//! config.cookie_site = Some(web::CookieSiteConfig::new("/srv/cookies.sqlite"));
//! let server = web::bind(config).await?;
//! println!("listening on {:?}", server.local_addrs());
//! server.run(netio::Shutdown::new()).await
//! # }
//! ```

pub mod app;
pub mod client;
pub mod config;
pub mod cookie_site;
pub mod files;
pub mod net;
pub mod route;

pub use app::{App, AppFuture, AppMount, AppRequest};
pub use client::{get, FetchOptions, FetchReport, Mode, Resolve, SystemResolver};
pub use config::{ConfigError, CookieSiteConfig, Redirect, VirtualHost, WebServerConfig};
pub use net::{bind, WebServer};
