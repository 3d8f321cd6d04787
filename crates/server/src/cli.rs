//! The command line. Every option of `serve` can also come from an environment variable
//! (`SWITCHBOARD_*`) or from the TOML file given with `--config`; the command line wins over
//! the environment, which wins over the file.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Switchboard: a Socket.IO-compatible real-time server with a chat, presence and
/// notifications, persisted in SQLite.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `serve` is the default command: its options may be given without it.
    #[command(flatten)]
    serve: ServeArgs,
}

impl Cli {
    /// The command to run (`serve` when none was named).
    pub(crate) fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

/// The subcommands.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub(crate) enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
}

/// How log lines are written (to stderr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// Options of `serve`. Unset options fall back to the config file, then to the defaults.
#[derive(Debug, Args, PartialEq, Eq, Default)]
pub(crate) struct ServeArgs {
    /// TCP port to listen on; 0 picks a free port (the real one is printed) [default: 3000].
    #[arg(long, env = "SWITCHBOARD_PORT")]
    pub(crate) port: Option<u16>,
    /// Address or host name to bind [default: 127.0.0.1].
    #[arg(long, env = "SWITCHBOARD_HOST")]
    pub(crate) host: Option<String>,
    /// A TOML file with any of these options (snake_case keys, e.g. `data_dir = "/var/lib/sb"`).
    #[arg(long, env = "SWITCHBOARD_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Directory of the SQLite database (created if missing) [default: ./data].
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// The database: `sqlite://PATH` (a file, created if missing) or
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` (shared by the nodes of a cluster)
    /// [default: sqlite://DATA_DIR/switchboard.db].
    #[arg(long, env = "SWITCHBOARD_DATABASE", value_name = "URL")]
    pub(crate) database: Option<String>,
    /// Redis URL (`redis://[:PASSWORD@]HOST:PORT[/DB]`): run this node as part of a cluster;
    /// every node takes the same Redis and the same `--database postgres://...`.
    #[arg(long, env = "SWITCHBOARD_REDIS", value_name = "URL")]
    pub(crate) redis: Option<String>,
    /// The Redis adapter of cluster mode (with `--redis`): `redis` (pub/sub), `sharded`
    /// (Redis 7 sharded pub/sub) or `streams` [default: redis].
    #[arg(long, env = "SWITCHBOARD_ADAPTER", value_name = "KIND", requires = "redis",
          value_parser = ["redis", "sharded", "streams"])]
    pub(crate) adapter: Option<String>,
    /// With `--redis`: `HOST:PORT` the other nodes reach this one at. Each node then forwards
    /// the polling requests and WebSocket upgrades of the other nodes' sessions to them, so
    /// the load balancer needs no sticky sessions (needs `--cluster-token`).
    #[arg(long, env = "SWITCHBOARD_CLUSTER_ADVERTISE", value_name = "ADDR", requires = "redis")]
    pub(crate) cluster_advertise: Option<String>,
    /// The token the nodes share to forward requests to each other (16 characters or more);
    /// a forwarded request without it is refused.
    #[arg(long, env = "SWITCHBOARD_CLUSTER_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub(crate) cluster_token: Option<String>,
    /// An origin allowed to make cross-origin requests (repeat, or comma-separate) [default:
    /// any origin].
    #[arg(long, env = "SWITCHBOARD_CORS_ORIGIN", value_name = "ORIGIN", value_delimiter = ',')]
    pub(crate) cors_origin: Vec<String>,
    /// Turns on JWT auth with this HMAC secret (clients send `auth: { token }`); without a
    /// secret or public key the server runs in dev mode (`auth: { username }`).
    #[arg(
        long,
        env = "SWITCHBOARD_JWT_SECRET",
        value_name = "SECRET",
        conflicts_with = "jwt_public_key"
    )]
    pub(crate) jwt_secret: Option<String>,
    /// Turns on JWT auth with this PEM public key file (RSA, EC or Ed25519).
    #[arg(long, env = "SWITCHBOARD_JWT_PUBLIC_KEY", value_name = "FILE")]
    pub(crate) jwt_public_key: Option<PathBuf>,
    /// The one JWT algorithm accepted [default: HS256 with a secret, RS256 with a public key].
    #[arg(long, env = "SWITCHBOARD_JWT_ALGORITHM", value_name = "ALG")]
    pub(crate) jwt_algorithm: Option<String>,
    /// Required `aud` claim of JWTs (checked when set).
    #[arg(long, env = "SWITCHBOARD_JWT_AUDIENCE", value_name = "AUD")]
    pub(crate) jwt_audience: Option<String>,
    /// Required `iss` claim of JWTs (checked when set).
    #[arg(long, env = "SWITCHBOARD_JWT_ISSUER", value_name = "ISS")]
    pub(crate) jwt_issuer: Option<String>,
    /// API key of `POST /api/notify` (sent as `Authorization: Bearer KEY`); the endpoint is
    /// off without one.
    #[arg(long, env = "SWITCHBOARD_API_KEY", value_name = "KEY")]
    pub(crate) api_key: Option<String>,
    /// Messages per second a user may send (message:send, private:send) [default: 10].
    #[arg(long, env = "SWITCHBOARD_RATE_LIMIT", value_name = "N")]
    pub(crate) rate_limit: Option<u32>,
    /// Burst of messages a user may send at once [default: 20].
    #[arg(long, env = "SWITCHBOARD_RATE_BURST", value_name = "N")]
    pub(crate) rate_burst: Option<u32>,
    /// Milliseconds after the last `typing:update` before the server stops a typing indicator
    /// itself [default: 5000].
    #[arg(long, env = "SWITCHBOARD_TYPING_TIMEOUT_MS", value_name = "MS")]
    pub(crate) typing_timeout_ms: Option<u64>,
    /// Connection state recovery: milliseconds a client whose connection dropped may take to
    /// come back and get its session (id, rooms) and every missed message; 0 turns recovery off
    /// [default: 120000, Node's `maxDisconnectionDuration`].
    #[arg(long, env = "SWITCHBOARD_MAX_DISCONNECTION_DURATION_MS", value_name = "MS")]
    pub(crate) max_disconnection_duration_ms: Option<u64>,
    /// Milliseconds a user whose last connection dropped (transport closed or lost, not a
    /// deliberate disconnect) stays online before the rooms get `offline`, so a short cut does
    /// not flap their presence; 0 announces at once [default: 10000].
    #[arg(long, env = "SWITCHBOARD_PRESENCE_GRACE_MS", value_name = "MS")]
    pub(crate) presence_grace_ms: Option<u64>,
    /// With `--redis`: milliseconds after which the other nodes drop the users of a node they
    /// stopped hearing from (it died or lost Redis); each node sends its list three times per
    /// TTL; at least 300 [default: 15000].
    #[arg(long, env = "SWITCHBOARD_PRESENCE_TTL_MS", value_name = "MS")]
    pub(crate) presence_ttl_ms: Option<u64>,
    /// The `dist` directory of the npm socket.io-client package, served at
    /// `/socket.io/socket.io.js` [default: web/node_modules/socket.io-client/dist from the
    /// working directory or the source tree, if present; else a small built-in client].
    #[arg(long, env = "SWITCHBOARD_CLIENT_DIST", value_name = "DIR")]
    pub(crate) client_dist: Option<PathBuf>,
    /// Serve the small built-in browser client even when the official one is installed.
    #[arg(long, env = "SWITCHBOARD_BUILTIN_CLIENT")]
    pub(crate) builtin_client: bool,
    /// Log format on stderr (filter with RUST_LOG) [default: human].
    #[arg(long, env = "SWITCHBOARD_LOG_FORMAT", value_enum)]
    pub(crate) log_format: Option<LogFormat>,
    /// Most connections open at once; past it a new one gets 503 [default: 0, no limit].
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", value_name = "N")]
    pub(crate) max_connections: Option<usize>,
    /// Most connections open at once from one client address; past it 429. Behind a proxy
    /// every client has the proxy's address [default: 0, no limit].
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub(crate) max_connections_per_ip: Option<usize>,
    /// New connections per second from one client address, in bursts of as many; past it
    /// 429 [default: 0, no limit].
    #[arg(long, env = "SWITCHBOARD_HANDSHAKES_PER_IP", value_name = "N")]
    pub(crate) handshakes_per_ip: Option<u32>,
    /// Serve HTTPS and WSS with this certificate chain (PEM); needs `--tls-key`.
    #[arg(long, env = "SWITCHBOARD_TLS_CERT", value_name = "FILE", requires = "tls_key")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1) of `--tls-cert`.
    #[arg(long, env = "SWITCHBOARD_TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Also accept Socket.IO v2 clients (Engine.IO v3), as Node's `allowEIO3`.
    #[arg(long = "allow-eio3", env = "SWITCHBOARD_ALLOW_EIO3")]
    pub(crate) allow_eio3: bool,
    /// The Socket.IO packet format, `json` or `msgpack` (the npm `socket.io-msgpack-parser`;
    /// clients must use the same; the pages then load the official msgpack bundle)
    /// [default: json].
    #[arg(long, env = "SWITCHBOARD_PARSER", value_name = "FORMAT")]
    pub(crate) parser: Option<switchboard::ParserKind>,
    /// Compress WebSocket messages of 1 KiB and more (permessage-deflate) for clients that
    /// offer it, as Node's `perMessageDeflate: true`; more CPU and memory per connection, less
    /// bandwidth.
    #[arg(long, env = "SWITCHBOARD_PER_MESSAGE_DEFLATE")]
    pub(crate) per_message_deflate: bool,
    /// Serve the official Admin UI at `/admin/` and its Socket.IO namespace `/admin`.
    /// Without `--admin-username` and `--admin-password-hash` only clients on 127.0.0.1/::1
    /// may connect to it.
    #[arg(long, env = "SWITCHBOARD_ADMIN_UI")]
    pub(crate) admin_ui: bool,
    /// The Admin UI's username (with `--admin-password-hash`).
    #[arg(long, env = "SWITCHBOARD_ADMIN_USERNAME", value_name = "NAME")]
    pub(crate) admin_username: Option<String>,
    /// The bcrypt hash (`$2a$`, `$2b$` or `$2y$`) of the Admin UI's password, e.g. from
    /// `htpasswd -bnBC 10 "" PASSWORD | tr -d ':'`.
    #[arg(long, env = "SWITCHBOARD_ADMIN_PASSWORD_HASH", value_name = "HASH")]
    pub(crate) admin_password_hash: Option<String>,
    /// The Admin UI may look but not act: its disconnect, join and leave are ignored.
    #[arg(long, env = "SWITCHBOARD_ADMIN_READONLY")]
    pub(crate) admin_readonly: bool,
    /// The `ui/dist` directory of the npm `@socket.io/admin-ui` package (default: its
    /// `ui/dist` under `web/node_modules`, from the working directory or the source tree).
    #[arg(long, env = "SWITCHBOARD_ADMIN_UI_DIST", value_name = "DIR")]
    pub(crate) admin_ui_dist: Option<PathBuf>,
    /// Tic-tac-toe: milliseconds a player may stay away from a running game before it is
    /// forfeited to the opponent [default: 30000].
    #[arg(long, env = "SWITCHBOARD_TICTACTOE_GRACE_MS", value_name = "MS")]
    pub(crate) tictactoe_grace_ms: Option<u64>,
    /// Auction: milliseconds an auction runs when its creator gives no duration
    /// [default: 120000].
    #[arg(long, env = "SWITCHBOARD_AUCTION_DURATION_MS", value_name = "MS")]
    pub(crate) auction_duration_ms: Option<u64>,
    /// Auction anti-sniping: a bid this many milliseconds or less before the end moves the end
    /// to this long after the bid; 0 turns it off [default: 15000].
    #[arg(long, env = "SWITCHBOARD_AUCTION_EXTEND_MS", value_name = "MS")]
    pub(crate) auction_extend_ms: Option<u64>,
    /// The largest file a user may share in a chat room, in bytes [default: 10485760, 10 MiB].
    #[arg(long, env = "SWITCHBOARD_MAX_FILE_SIZE", value_name = "BYTES")]
    pub(crate) max_file_size: Option<u64>,
    /// The media types users may share in the chat (comma-separated; `image/*` takes every
    /// subtype) [default: images (PNG, JPEG, GIF, WebP), PDF, plain text, CSV, Markdown, JSON,
    /// ZIP, audio/*, video/*].
    #[arg(long, env = "SWITCHBOARD_FILE_TYPES", value_name = "TYPES", value_delimiter = ',')]
    pub(crate) file_types: Option<Vec<String>>,
    /// The apps to run, comma-separated (`chat,notifications`) [default: every app].
    #[arg(long, env = "SWITCHBOARD_APPS", value_name = "NAMES", value_delimiter = ',')]
    pub(crate) apps: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("switchboard").chain(args.iter().copied()))
            .map(Cli::into_command)
    }

    fn serve(args: &[&str]) -> ServeArgs {
        match parse(args).unwrap() {
            Command::Serve(args) => args,
        }
    }

    // The environment variables are not set in the test environment; their wiring is covered
    // by the integration test that starts the binary.
    #[test]
    fn serve_is_the_default_command() {
        assert_eq!(serve(&[]), ServeArgs::default());
        assert_eq!(serve(&["--port", "0"]).port, Some(0));
        let args = serve(&["serve", "--host", "::1", "--port", "8080"]);
        assert_eq!((args.host.as_deref(), args.port), (Some("::1"), Some(8080)));
    }

    #[test]
    fn every_option_parses() {
        let args = serve(&[
            "--data-dir",
            "/tmp/x",
            "--cors-origin",
            "http://a,http://b",
            "--cors-origin",
            "http://c",
            "--jwt-secret",
            "s",
            "--jwt-audience",
            "aud",
            "--jwt-issuer",
            "iss",
            "--api-key",
            "k",
            "--rate-limit",
            "5",
            "--rate-burst",
            "6",
            "--log-format",
            "json",
            "--typing-timeout-ms",
            "100",
            "--max-disconnection-duration-ms",
            "3000",
            "--presence-grace-ms",
            "0",
            "--allow-eio3",
            "--parser",
            "msgpack",
            "--admin-ui",
            "--admin-username",
            "ops",
            "--admin-password-hash",
            "$2y$04$x",
            "--admin-readonly",
        ]);
        assert!(args.admin_ui && args.admin_readonly);
        assert_eq!(args.admin_username.as_deref(), Some("ops"));
        assert_eq!(args.admin_password_hash.as_deref(), Some("$2y$04$x"));
        assert!(args.allow_eio3);
        assert!(!serve(&[]).allow_eio3);
        assert_eq!(args.parser, Some(switchboard::ParserKind::Msgpack));
        assert_eq!(args.max_disconnection_duration_ms, Some(3000));
        assert_eq!(args.presence_grace_ms, Some(0));
        assert_eq!(args.cors_origin, ["http://a", "http://b", "http://c"]);
        assert_eq!(args.log_format, Some(LogFormat::Json));
        assert_eq!((args.rate_limit, args.rate_burst), (Some(5), Some(6)));
        assert_eq!(args.data_dir.as_deref(), Some(std::path::Path::new("/tmp/x")));
    }

    #[test]
    fn bad_arguments_are_rejected() {
        assert!(parse(&["--port", "70000"]).is_err());
        assert!(parse(&["--port", "0", "serve"]).is_err());
        assert!(parse(&["frobnicate"]).is_err());
        assert!(parse(&["--log-format", "xml"]).is_err());
        assert!(parse(&["--parser", "bson"]).is_err());
        assert!(parse(&["--jwt-secret", "a", "--jwt-public-key", "b"]).is_err());
    }
}
