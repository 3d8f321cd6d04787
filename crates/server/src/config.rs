//! The resolved configuration: command line and environment over the TOML file over the
//! defaults.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::cli::{LogFormat, ServeArgs};
use crate::cluster::AdapterKind;

/// The TOML file: the same options as the command line, in snake_case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    port: Option<u16>,
    host: Option<String>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    redis: Option<String>,
    adapter: Option<String>,
    cors_origin: Option<Vec<String>>,
    jwt_secret: Option<String>,
    jwt_public_key: Option<PathBuf>,
    jwt_algorithm: Option<String>,
    jwt_audience: Option<String>,
    jwt_issuer: Option<String>,
    api_key: Option<String>,
    rate_limit: Option<u32>,
    rate_burst: Option<u32>,
    typing_timeout_ms: Option<u64>,
    max_disconnection_duration_ms: Option<u64>,
    presence_grace_ms: Option<u64>,
    presence_ttl_ms: Option<u64>,
    client_dist: Option<PathBuf>,
    builtin_client: Option<bool>,
    log_format: Option<LogFormat>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    handshakes_per_ip: Option<u32>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    allow_eio3: Option<bool>,
    parser: Option<String>,
    per_message_deflate: Option<bool>,
    apps: Option<Vec<String>>,
    max_file_size: Option<u64>,
    file_types: Option<Vec<String>>,
}

/// Node's `maxDisconnectionDuration` default: 2 minutes.
const DEFAULT_MAX_DISCONNECTION_MS: u64 = 120_000;
/// The default presence grace: longer than a client's first reconnection attempts (1 s
/// backoff, up to 5 s) after a short cut.
const DEFAULT_PRESENCE_GRACE_MS: u64 = 10_000;
/// The default presence TTL of cluster mode: a node's heartbeat every 5 s, three missed ones
/// and its users are offline elsewhere.
const DEFAULT_PRESENCE_TTL_MS: u64 = 15_000;

/// The shortest presence TTL taken (a node sends its list three times per TTL).
const MIN_PRESENCE_TTL_MS: u64 = 300;

/// How clients authenticate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthConfig {
    /// `auth: { username }`; the user id is the username.
    Dev,
    /// `auth: { token }`, a JWT.
    Jwt(JwtConfig),
}

/// JWT verification settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JwtConfig {
    /// The HMAC secret or the PEM public key.
    pub(crate) key: JwtKey,
    /// The one accepted algorithm.
    pub(crate) algorithm: String,
    /// Required audience.
    pub(crate) audience: Option<String>,
    /// Required issuer.
    pub(crate) issuer: Option<String>,
}

/// JWT key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JwtKey {
    /// An HMAC secret.
    Secret(String),
    /// A PEM public key.
    PublicPem(Vec<u8>),
}

/// Everything the server needs, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) data_dir: PathBuf,
    /// Where the chat store lives.
    pub(crate) database: Database,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) auth: AuthConfig,
    pub(crate) api_key: Option<String>,
    pub(crate) rate_limit: NonZeroU32,
    pub(crate) rate_burst: NonZeroU32,
    pub(crate) typing_timeout: Duration,
    /// Connection state recovery window of every namespace; `None` (0 given) turns it off.
    pub(crate) max_disconnection_duration: Option<Duration>,
    /// How long a connection that dropped keeps its user online.
    pub(crate) presence_grace: Duration,
    /// `--redis`: this node is part of a cluster.
    pub(crate) cluster: Option<ClusterConfig>,
    /// How long the other nodes' users stay online without a word from their node.
    pub(crate) presence_ttl: Duration,
    pub(crate) client_dist: Option<PathBuf>,
    pub(crate) builtin_client: bool,
    pub(crate) log_format: LogFormat,
    /// The session limits (`None`: no limit), as the engine takes them.
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_connections_per_ip: Option<usize>,
    pub(crate) handshakes_per_ip: Option<NonZeroU32>,
    /// `--tls-cert` and `--tls-key`: serve HTTPS and WSS.
    pub(crate) tls: Option<TlsFiles>,
    /// `--allow-eio3`: accept Socket.IO v2 clients.
    pub(crate) allow_eio3: bool,
    /// `--parser`: the Socket.IO packet format.
    pub(crate) parser: switchboard::ParserKind,
    /// `--per-message-deflate`: WebSocket compression with Node's settings.
    pub(crate) per_message_deflate: bool,
    /// `--apps`: the apps to run (`None`: all of them).
    pub(crate) apps: Option<Vec<String>>,
    /// `--max-file-size`: the largest file shared in the chat, in bytes.
    pub(crate) max_file_size: u64,
    /// `--file-types`: the media types that may be shared (`type/*` for a whole type).
    pub(crate) file_types: Vec<String>,
}

/// The default of `--max-file-size`: 10 MiB.
pub(crate) const DEFAULT_MAX_FILE_SIZE: u64 = 10 * 1024 * 1024;

/// The default of `--file-types`: what a chat shares (never a type a browser runs, as HTML
/// or SVG).
pub(crate) const DEFAULT_FILE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "text/markdown",
    "application/json",
    "application/zip",
    "audio/*",
    "video/*",
];

/// The database of `--database`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Database {
    /// A SQLite file (the embedded default).
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL.
    Postgres(String),
}

impl Database {
    /// Reads `sqlite://PATH`, `postgres://…` or `postgresql://…`.
    fn parse(url: &str) -> anyhow::Result<Database> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                bail!("--database sqlite:// needs a file path, e.g. sqlite://data/switchboard.db");
            }
            return Ok(Database::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_owned()));
        }
        bail!("--database takes sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DB")
    }

    /// The database for logs and errors, without a password.
    pub(crate) fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => format!("sqlite://{}", path.display()),
            Database::Postgres(url) => {
                let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
                // Drop the user info (`user:password@`) of the authority.
                let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
                let rest = match rest[..authority_end].rfind('@') {
                    Some(at) => &rest[at + 1..],
                    None => rest,
                };
                format!("{scheme}://{rest}")
            }
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// `--redis` and `--adapter`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ClusterConfig {
    /// The Redis URL (it may hold a password: see [`ClusterConfig::describe`]).
    pub(crate) redis: String,
    /// The adapter.
    pub(crate) adapter: AdapterKind,
}

impl ClusterConfig {
    /// The Redis URL without its password.
    pub(crate) fn describe(&self) -> String {
        crate::cluster::describe_url(&self.redis)
    }
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?})", self.describe(), self.adapter)
    }
}

/// The PEM files of `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

impl Config {
    /// Resolves `args` over the file named in them (if any) over the defaults.
    pub(crate) fn load(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        Config::resolve(args, file)
    }

    fn resolve(args: ServeArgs, file: FileConfig) -> anyhow::Result<Config> {
        let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("data"));
        let database = match args.database.or(file.database) {
            Some(url) => Database::parse(&url)?,
            None => Database::Sqlite(data_dir.join("switchboard.db")),
        };
        let adapter = args.adapter.or(file.adapter);
        let cluster = match (args.redis.or(file.redis), adapter) {
            (Some(redis), adapter) => {
                if let Database::Sqlite(_) = database {
                    bail!(
                        "--redis runs this node as part of a cluster, and the nodes must share \
                         one chat store: on SQLite each node would keep its own history, rooms \
                         and private messages; give every node --database \
                         postgres://USER:PASSWORD@HOST:PORT/DB"
                    );
                }
                let adapter = AdapterKind::parse(adapter.as_deref().unwrap_or("redis"))?;
                Some(ClusterConfig { redis, adapter })
            }
            (None, Some(_)) => bail!("--adapter needs --redis"),
            (None, None) => None,
        };
        let tls = match (args.tls_cert.or(file.tls_cert), args.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => bail!("--tls-cert and --tls-key go together: give both, or neither"),
        };
        let secret = args.jwt_secret.or(file.jwt_secret);
        let public_key = args.jwt_public_key.or(file.jwt_public_key);
        let algorithm = args.jwt_algorithm.or(file.jwt_algorithm);
        let audience = args.jwt_audience.or(file.jwt_audience);
        let issuer = args.jwt_issuer.or(file.jwt_issuer);
        let auth = match (secret, public_key) {
            (Some(_), Some(_)) => bail!("give either a JWT secret or a JWT public key, not both"),
            (Some(secret), None) => {
                if secret.is_empty() {
                    bail!("the JWT secret is empty");
                }
                let algorithm = algorithm.unwrap_or_else(|| "HS256".to_owned());
                AuthConfig::Jwt(JwtConfig {
                    key: JwtKey::Secret(secret),
                    algorithm,
                    audience,
                    issuer,
                })
            }
            (None, Some(path)) => {
                let pem = read_key(&path)?;
                let algorithm = algorithm.unwrap_or_else(|| "RS256".to_owned());
                AuthConfig::Jwt(JwtConfig {
                    key: JwtKey::PublicPem(pem),
                    algorithm,
                    audience,
                    issuer,
                })
            }
            (None, None) => AuthConfig::Dev,
        };
        let non_zero = |v: u32, what: &str| {
            NonZeroU32::new(v).with_context(|| format!("{what} must be at least 1"))
        };
        let origins = if args.cors_origin.is_empty() {
            file.cors_origin.unwrap_or_default()
        } else {
            args.cors_origin
        };
        let parser = match (args.parser, file.parser) {
            (Some(parser), _) => parser,
            (None, Some(name)) => name.parse().with_context(|| format!("parser = {name:?}"))?,
            (None, None) => switchboard::ParserKind::Json,
        };
        let apps = match args.apps {
            Some(names) => Some(names),
            None => file.apps,
        }
        .map(|names| names.into_iter().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()));
        let apps = apps.map(Iterator::collect);
        let file_types: Vec<String> = match args.file_types.or(file.file_types) {
            Some(types) => types
                .into_iter()
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
            None => DEFAULT_FILE_TYPES.iter().map(|t| (*t).to_owned()).collect(),
        };
        if let Some(bad) = file_types.iter().find(|t| {
            let Some((kind, sub)) = t.split_once('/') else { return true };
            kind.is_empty() || sub.is_empty() || kind == "*"
        }) {
            bail!("--file-types: {bad:?} is not a media type (type/subtype or type/*)");
        }
        let max_file_size =
            args.max_file_size.or(file.max_file_size).unwrap_or(DEFAULT_MAX_FILE_SIZE);
        if max_file_size == 0 {
            bail!("--max-file-size must be at least 1");
        }
        Ok(Config {
            apps,
            max_file_size,
            file_types,
            host: args.host.or(file.host).unwrap_or_else(|| "127.0.0.1".to_owned()),
            port: args.port.or(file.port).unwrap_or(3000),
            database,
            data_dir,
            cors_origins: origins,
            auth,
            api_key: args.api_key.or(file.api_key).filter(|k| !k.is_empty()),
            rate_limit: non_zero(
                args.rate_limit.or(file.rate_limit).unwrap_or(10),
                "--rate-limit",
            )?,
            rate_burst: non_zero(
                args.rate_burst.or(file.rate_burst).unwrap_or(20),
                "--rate-burst",
            )?,
            typing_timeout: Duration::from_millis(
                args.typing_timeout_ms.or(file.typing_timeout_ms).unwrap_or(5000),
            ),
            max_disconnection_duration: Some(Duration::from_millis(
                args.max_disconnection_duration_ms
                    .or(file.max_disconnection_duration_ms)
                    .unwrap_or(DEFAULT_MAX_DISCONNECTION_MS),
            ))
            .filter(|d| !d.is_zero()),
            presence_grace: Duration::from_millis(
                args.presence_grace_ms
                    .or(file.presence_grace_ms)
                    .unwrap_or(DEFAULT_PRESENCE_GRACE_MS),
            ),
            cluster,
            presence_ttl: Duration::from_millis(
                args.presence_ttl_ms.or(file.presence_ttl_ms).unwrap_or(DEFAULT_PRESENCE_TTL_MS),
            )
            .max(Duration::from_millis(MIN_PRESENCE_TTL_MS)),
            client_dist: args.client_dist.or(file.client_dist),
            builtin_client: args.builtin_client || file.builtin_client.unwrap_or(false),
            allow_eio3: args.allow_eio3 || file.allow_eio3.unwrap_or(false),
            per_message_deflate: args.per_message_deflate
                || file.per_message_deflate.unwrap_or(false),
            log_format: args.log_format.or(file.log_format).unwrap_or(LogFormat::Human),
            parser,
            // 0 (the default) means no limit, as in Node.
            max_connections: args.max_connections.or(file.max_connections).filter(|n| *n > 0),
            max_connections_per_ip: args
                .max_connections_per_ip
                .or(file.max_connections_per_ip)
                .filter(|n| *n > 0),
            handshakes_per_ip: args
                .handshakes_per_ip
                .or(file.handshakes_per_ip)
                .and_then(NonZeroU32::new),
            tls,
        })
    }
}

fn read_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .with_context(|| format!("cannot read the JWT public key {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> FileConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults() {
        let c = Config::resolve(ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("127.0.0.1", 3000));
        assert_eq!(c.data_dir, PathBuf::from("data"));
        assert_eq!(c.auth, AuthConfig::Dev);
        assert_eq!((c.rate_limit.get(), c.rate_burst.get()), (10, 20));
        assert_eq!(c.typing_timeout, Duration::from_secs(5));
        assert_eq!(c.log_format, LogFormat::Human);
        assert_eq!(c.max_disconnection_duration, Some(Duration::from_secs(120)));
        assert_eq!(c.presence_grace, Duration::from_secs(10));
        assert!(!c.per_message_deflate, "off by default, as in Node");
    }

    #[test]
    fn per_message_deflate_from_the_file_or_the_command_line() {
        let on = file("per_message_deflate = true\n");
        assert!(Config::resolve(ServeArgs::default(), on).unwrap().per_message_deflate);
        let args = ServeArgs { per_message_deflate: true, ..ServeArgs::default() };
        assert!(Config::resolve(args, FileConfig::default()).unwrap().per_message_deflate);
    }

    #[test]
    fn database_urls() {
        let c = Config::resolve(ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(c.database, Database::Sqlite(PathBuf::from("data/switchboard.db")));
        let c = Config::resolve(ServeArgs::default(), file("database = \"sqlite:///tmp/a.db\"\n"))
            .unwrap();
        assert_eq!(c.database, Database::Sqlite(PathBuf::from("/tmp/a.db")));
        let url = "postgres://sb:s3cret@db.example:5433/chat?sslmode=disable";
        let args = ServeArgs { database: Some(url.to_owned()), ..ServeArgs::default() };
        let c = Config::resolve(args, FileConfig::default()).unwrap();
        assert_eq!(c.database, Database::Postgres(url.to_owned()));
        assert_eq!(c.database.describe(), "postgres://db.example:5433/chat?sslmode=disable");
        assert!(!format!("{:?}", c.database).contains("s3cret"));
        for bad in ["mysql://x", "sqlite://", "data.db"] {
            let args = ServeArgs { database: Some(bad.to_owned()), ..ServeArgs::default() };
            let err = Config::resolve(args, FileConfig::default()).unwrap_err();
            assert!(format!("{err:#}").contains("--database"), "{bad}: {err:#}");
        }
    }

    #[test]
    fn cluster_mode() {
        let c = Config::resolve(ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!((c.cluster, c.presence_ttl), (None, Duration::from_secs(15)));
        let f = file(
            "redis = \"redis://:pw@cache:6379\"\ndatabase = \"postgres://db/x\"\npresence_ttl_ms = 4000\n",
        );
        let c = Config::resolve(ServeArgs::default(), f).unwrap();
        let cluster = c.cluster.unwrap();
        assert_eq!(cluster.adapter, AdapterKind::Redis);
        assert_eq!(cluster.describe(), "redis://cache:6379");
        assert!(!format!("{cluster:?}").contains("pw"));
        assert_eq!(c.presence_ttl, Duration::from_secs(4));
        let args = ServeArgs {
            redis: Some("redis://cache".into()),
            database: Some("postgres://db/x".into()),
            adapter: Some("sharded".into()),
            ..ServeArgs::default()
        };
        assert_eq!(
            Config::resolve(args, FileConfig::default()).unwrap().cluster.unwrap().adapter,
            AdapterKind::Sharded
        );
        // Accepted here; the start refuses it until the adapter is wired.
        let f =
            file("redis = \"redis://c\"\ndatabase = \"postgres://db/x\"\nadapter = \"streams\"\n");
        let cluster = Config::resolve(ServeArgs::default(), f).unwrap().cluster.unwrap();
        assert_eq!(cluster.adapter, AdapterKind::Streams);
        let f =
            file("redis = \"redis://c\"\ndatabase = \"postgres://db/x\"\nadapter = \"kafka\"\n");
        assert!(Config::resolve(ServeArgs::default(), f).is_err());
    }

    #[test]
    fn tls_files_come_in_pairs() {
        let f = file("tls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n");
        let c = Config::resolve(ServeArgs::default(), f).unwrap();
        let files = TlsFiles { cert: "c.pem".into(), key: "k.pem".into() };
        assert_eq!(c.tls, Some(files));
        let err = Config::resolve(ServeArgs::default(), file("tls_cert = \"c.pem\"\n"));
        assert!(format!("{:#}", err.unwrap_err()).contains("go together"));
        assert_eq!(Config::resolve(ServeArgs::default(), FileConfig::default()).unwrap().tls, None);
    }

    #[test]
    fn recovery_window_and_presence_grace() {
        let f = file("max_disconnection_duration_ms = 3000\npresence_grace_ms = 0\n");
        let c = Config::resolve(ServeArgs::default(), f).unwrap();
        assert_eq!(c.max_disconnection_duration, Some(Duration::from_secs(3)));
        assert_eq!(c.presence_grace, Duration::ZERO);
        let f = file("max_disconnection_duration_ms = 3000\n");
        let off = ServeArgs { max_disconnection_duration_ms: Some(0), ..ServeArgs::default() };
        assert_eq!(Config::resolve(off, f).unwrap().max_disconnection_duration, None);
    }

    #[test]
    fn the_command_line_wins_over_the_file() {
        let f = file(
            "port = 4000\nhost = \"0.0.0.0\"\ncors_origin = [\"http://x\"]\njwt_secret = \"s\"\njwt_issuer = \"me\"\nlog_format = \"json\"\n",
        );
        let args = ServeArgs { port: Some(5000), ..ServeArgs::default() };
        let c = Config::resolve(args, f).unwrap();
        assert_eq!((c.host.as_str(), c.port), ("0.0.0.0", 5000));
        assert_eq!(c.cors_origins, ["http://x"]);
        assert_eq!(c.log_format, LogFormat::Json);
        let AuthConfig::Jwt(jwt) = c.auth else { panic!("jwt expected") };
        assert_eq!((jwt.algorithm.as_str(), jwt.issuer.as_deref()), ("HS256", Some("me")));
    }

    #[test]
    fn parser_from_the_file_or_the_command_line() {
        let default = Config::resolve(ServeArgs::default(), FileConfig::default()).unwrap();
        assert_eq!(default.parser, switchboard::ParserKind::Json);
        let c = Config::resolve(ServeArgs::default(), file("parser = \"msgpack\"\n")).unwrap();
        assert_eq!(c.parser, switchboard::ParserKind::Msgpack);
        let args =
            ServeArgs { parser: Some(switchboard::ParserKind::Json), ..ServeArgs::default() };
        let c = Config::resolve(args, file("parser = \"msgpack\"\n")).unwrap();
        assert_eq!(c.parser, switchboard::ParserKind::Json);
        let err = Config::resolve(ServeArgs::default(), file("parser = \"bson\"\n")).unwrap_err();
        assert!(format!("{err:#}").contains("unknown parser \"bson\""), "{err:#}");
    }

    #[test]
    fn rejected_configurations() {
        assert!(toml::from_str::<FileConfig>("nope = 1").is_err());
        let redis = ServeArgs { redis: Some("redis://x".into()), ..ServeArgs::default() };
        let err = Config::resolve(redis, FileConfig::default()).unwrap_err().to_string();
        assert!(err.contains("on SQLite each node would keep its own history"), "{err}");
        let err = Config::resolve(ServeArgs::default(), file("adapter = \"sharded\"\n"));
        assert!(err.unwrap_err().to_string().contains("--adapter needs --redis"));
        let zero = ServeArgs { rate_limit: Some(0), ..ServeArgs::default() };
        assert!(Config::resolve(zero, FileConfig::default()).is_err());
    }
}
