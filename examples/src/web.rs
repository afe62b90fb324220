//! What the example servers share: the page route and the command line.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use quicket::admin::AdminConfig;
use quicket::quic::ServerIdentity;
use quicket::{Endpoints, Server, Serving};

use quicket::ws::axum::Router;
use quicket::ws::axum::response::Html;
use quicket::ws::axum::routing::get;
use tracing_subscriber::EnvFilter;

/// Prints the log to stderr, filtered by `RUST_LOG` (`info` when it is unset): each line of a
/// connection carries its `connection{transport=.. peer=.. sid=..}` span, e.g.
/// `RUST_LOG=quicket_core=debug`.
pub fn log_to_stderr() -> Result<(), Box<dyn std::error::Error>> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|err| err as Box<dyn std::error::Error>)
}

/// An example's page at `/`. It imports the browser client from `/quicket/client.js`, which
/// `quicket::serve` serves from inside the crate.
pub fn page_routes(page: &'static str) -> Router {
    Router::new().route("/", get(move || async move { Html(page) }))
}

/// Where an example listens: `--bind IP` (default every interface), `--http PORT` (default
/// 8080), `--quic PORT` (default 4433; 0 picks free ports), and, where offered, `--cert PEM
/// --key PEM` for a certificate from files, which then serves HTTPS and `wss://` too.
pub struct Listen {
    ip: IpAddr,
    http: u16,
    quic: u16,
    pem: Option<(PathBuf, PathBuf)>,
    admin: Option<AdminConfig>,
}

impl Listen {
    /// Reads the flags; `--cert` and `--key` only when `with_certificate`.
    pub fn from_flags(flags: &mut Flags, with_certificate: bool) -> Self {
        let ip = flags.value("--bind", IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        let http = flags.value("--http", 8080);
        let quic = flags.value("--quic", 4433);
        let pem = if with_certificate {
            match (flags.optional("--cert"), flags.optional("--key")) {
                (Some(cert), Some(key)) => Some((cert, key)),
                (None, None) => None,
                _ => {
                    flags.error("--cert and --key go together");
                    None
                }
            }
        } else {
            None
        };
        Self {
            ip,
            http,
            quic,
            pem,
            admin: None,
        }
    }

    /// Serves the admin view at `/quicket/admin` when the environment variable `var` holds a
    /// token: a token on the command line would show in the process list.
    pub fn admin_from_env(mut self, var: &str) -> Self {
        self.admin = std::env::var(var)
            .ok()
            .filter(|token| !token.is_empty())
            .map(AdminConfig::new);
        self
    }

    /// Serves `server` with `routes` beside quicket's; an error names the addresses.
    pub async fn serve(&self, server: &Server, routes: Router) -> Result<Serving, String> {
        let (http, quic) = (
            SocketAddr::new(self.ip, self.http),
            SocketAddr::new(self.ip, self.quic),
        );
        let mut endpoints = Endpoints::default().bind(http, quic).routes(routes);
        if let Some((cert, key)) = &self.pem {
            endpoints = endpoints
                .identity(ServerIdentity::pem_files(cert, key))
                .https(true);
        }
        if let Some(admin) = &self.admin {
            endpoints = endpoints.admin(admin.clone());
        }
        quicket::serve(server, endpoints)
            .await
            .map_err(|err| format!("cannot serve on TCP {http} and UDP {quic}: {err}"))
    }

    /// The page's URL, on loopback when bound to every interface.
    pub fn page_url(&self, serving: &Serving) -> String {
        let scheme = if self.pem.is_some() { "https" } else { "http" };
        let host = match self.ip {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            IpAddr::V6(v6) => format!("[{v6}]"),
            IpAddr::V4(v4) => v4.to_string(),
        };
        format!("{scheme}://{host}:{}/", serving.http.port())
    }
}

/// The command line as `--flag value` pairs and bare `--switch`es. `--help` prints the usage
/// and exits; a flag no one asks for, or a value that does not parse, prints the usage and
/// exits with status 2 rather than starting with something the user did not mean.
pub struct Flags {
    program: &'static str,
    usage: &'static str,
    args: Vec<String>,
    errors: Vec<String>,
}

impl Flags {
    /// The process's arguments; `program` names it in messages, `usage` lists its flags.
    pub fn from_env(program: &'static str, usage: &'static str) -> Self {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if args.iter().any(|arg| arg == "--help" || arg == "-h") {
            println!("usage: {program} {usage}");
            std::process::exit(0);
        }
        Self {
            program,
            usage,
            args,
            errors: Vec::new(),
        }
    }

    /// Whether the switch `name` was given.
    pub fn switch(&mut self, name: &str) -> bool {
        match self.args.iter().position(|arg| arg == name) {
            Some(at) => {
                self.args.remove(at);
                true
            }
            None => false,
        }
    }

    /// The value after `name`, parsed; `default` when absent.
    pub fn value<T: FromStr>(&mut self, name: &str, default: T) -> T {
        self.optional(name).unwrap_or(default)
    }

    /// The value after `name`, parsed, if given.
    pub fn optional<T: FromStr>(&mut self, name: &str) -> Option<T> {
        let at = self.args.iter().position(|arg| arg == name)?;
        self.args.remove(at);
        if at >= self.args.len() {
            self.errors.push(format!("{name} needs a value"));
            return None;
        }
        let raw = self.args.remove(at);
        let parsed = raw.parse().ok();
        if parsed.is_none() {
            self.errors.push(format!("{name} {raw}: not understood"));
        }
        parsed
    }

    /// Records a mistake in the command line, reported by [`Flags::finish`].
    pub fn error(&mut self, message: impl Into<String>) {
        self.errors.push(message.into());
    }

    /// Exits with the usage when an argument was not understood or not asked for.
    pub fn finish(mut self) {
        let unknown = self.args.drain(..).map(|arg| format!("{arg}: unknown"));
        self.errors.extend(unknown);
        if !self.errors.is_empty() {
            for error in &self.errors {
                eprintln!("{}: {error}", self.program);
            }
            eprintln!("usage: {} {}", self.program, self.usage);
            std::process::exit(2);
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// A small, fast pseudo-random generator (xorshift64*): the simulations need variety, not
/// cryptography, and the examples stay free of a random crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`; equal seeds give equal sequences.
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value, uniform over `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A value in `0..n`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}
