//! Settings: command-line flags and `TLSWATCH_*` environment variables (clap).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::ingest::Limits;

/// A boolean setting written `--NAME`, `--NAME=BOOL` or `--no-NAME` (the last one given wins),
/// or through its environment variable: a clap `Args` struct with both flags and `get()`.
macro_rules! switch {
    (
        $(#[doc = $doc:literal])*
        $name:ident { $field:ident, $no:ident, $long:literal, $no_long:literal, $env:literal, $default:literal }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Args)]
        pub struct $name {
            $(#[doc = $doc])*
            #[arg(long = $long, env = $env, default_value = $default, num_args = 0..=1,
                  require_equals = true, default_missing_value = "true", action = ArgAction::Set,
                  value_parser = BoolishValueParser::new(), overrides_with = stringify!($no))]
            pub $field: bool,
            /// Turns the setting off.
            #[arg(long = $no_long, action = ArgAction::SetTrue, overrides_with = stringify!($field))]
            pub $no: bool,
        }

        impl $name {
            /// Whether the setting is on.
            pub fn get(&self) -> bool {
                self.$field && !self.$no
            }
        }
    };
}

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "tlswatch",
    version,
    about = "tlswatch: a self-hosted dashboard for TLS-RPT reports and MTA-STS health.",
    long_about = "tlswatch: a self-hosted dashboard for TLS-RPT reports and MTA-STS health.\n\n\
        Without a command it serves (`tlswatch serve`, configured by its TLSWATCH_* variables).\n\
        Every flag can also be set through the environment variable shown next to it."
)]
pub struct Cli {
    #[allow(missing_docs)]
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl ServeArgs {
    /// `serve`'s settings from the environment alone (for `tlswatch` without a command).
    pub fn from_env() -> Result<Self, clap::Error> {
        use clap::FromArgMatches;
        let cmd = Self::augment_args(clap::Command::new("serve"));
        Self::from_arg_matches(&cmd.try_get_matches_from(["serve"])?)
    }
}

/// Commands.
// Parsed once at start: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the web dashboard and the report receivers (the default).
    Serve(ServeArgs),
    /// Import TLS-RPT reports from files and directories (.json, .json.gz, .gz, .zip, .eml, mbox).
    Import(ImportArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API tokens (for `Authorization: Bearer` on /api/v1).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Configure and poll IMAP mailboxes that receive report mails.
    #[command(subcommand)]
    Mailbox(MailboxCommand),
    /// Register or list the domains tlswatch watches.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Manage organizations: each sees only the domains it has proven it owns.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Inspect and re-process inputs that were rejected (kept with the reason).
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Check a domain's MTA-STS and TLS-RPT configuration now (exit 2 when a check fails).
    Check(CheckArgs),
    /// Manage the key that seals stored secrets.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Write a consistent copy of the SQLite database to FILE while tlswatch runs (for
    /// PostgreSQL use pg_dump; README has the command).
    Backup {
        /// The copy to write (must not exist).
        file: PathBuf,
    },
    /// Put a backup in place of the SQLite database (stop tlswatch first). The database it
    /// replaces is kept as `tlswatch.db.before-restore`.
    Restore {
        /// The backup to restore.
        file: PathBuf,
        /// Replace an existing database.
        #[arg(long)]
        force: bool,
    },
    /// Check the configuration, database, schema version, embedded site, DNS and clock, and
    /// say what to fix (exit status 1 when something must be fixed).
    Doctor,
}

/// Settings of `check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The domain, e.g. `example.com`.
    pub domain: String,
    /// `text` (for people) or `json` (a list of findings: id, severity, title, detail, fix).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Do not store the run (by default it is stored and becomes the domain's latest check).
    #[arg(long)]
    pub no_store: bool,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub checker: CheckerArgs,
}

/// `tlswatch user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input (one line, at least 12 characters).
    Add {
        /// Sign-in e-mail.
        #[arg(long)]
        email: String,
        /// `admin`, `editor` or `viewer`.
        #[arg(long, value_parser = ["admin", "editor", "viewer"])]
        role: String,
        /// The organization (by name) it belongs to; the default organization when left out.
        #[arg(long)]
        org: Option<String>,
        /// Administers the whole instance: sees every organization and manages them.
        #[arg(long)]
        instance_admin: bool,
    },
    /// List users.
    List,
    /// Set a user's password (read from standard input, one line); also lifts a lockout.
    SetPassword {
        /// Sign-in e-mail.
        #[arg(long)]
        email: String,
    },
    /// Disable a user: they can no longer sign in and their sessions end.
    Disable {
        /// Sign-in e-mail.
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled user again.
    Enable {
        /// Sign-in e-mail.
        #[arg(long)]
        email: String,
    },
}

/// `tlswatch token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// A name saying what uses it.
        #[arg(long)]
        name: String,
        /// `admin`, `editor` or `viewer`.
        #[arg(long, value_parser = ["admin", "editor", "viewer"])]
        role: String,
        /// The organization (by name) it acts in; the default organization when left out.
        #[arg(long)]
        org: Option<String>,
        /// Acts for the whole instance (every organization).
        #[arg(long)]
        instance_admin: bool,
    },
    /// List tokens.
    List,
    /// Revoke a token by id.
    Revoke {
        /// Its id (from `list`).
        id: i64,
    },
}

/// `tlswatch mailbox …`.
#[derive(Debug, Subcommand)]
pub enum MailboxCommand {
    /// Add a mailbox (IMAP or Microsoft Graph; password or OAuth 2.0). The secret is read from
    /// standard input.
    #[command(
        long_about = "Add a mailbox tlswatch polls for report mail. The secret of the \
sign-in method is read from standard input: the password (one line), the client secret (one \
line), or the whole JSON key file of a Google service account.\n\n\
Kinds (--kind):\n\
  imap   an IMAP server (--host, --port, --tls)\n\
  graph  Microsoft Graph, for Microsoft 365 tenants without IMAP (--host is the Graph base URL, \
default https://graph.microsoft.com; national clouds: https://graph.microsoft.us, \
https://dod-graph.microsoft.us, https://microsoftgraph.chinacloudapi.cn). --user is the user or \
shared mailbox address.\n\n\
Sign-in methods (--auth):\n\
  password            IMAP LOGIN with a user name and password.\n\
  client-credentials  Microsoft 365 app-only (OAuth 2.0 client credentials): --client-id, \
--tenant (or --token-url), client secret on stdin; scope \
https://outlook.office365.com/.default for IMAP, <graph base>/.default for Graph; --authority \
for national clouds (e.g. https://login.microsoftonline.us). Limit the app to this mailbox with \
Exchange application RBAC (see the README).\n\
  service-account     Google Workspace service account with domain-wide delegation: the key \
file on stdin, --user is the mailbox the account acts for; scope https://mail.google.com/.\n\
  authorization-code  Someone signs in once from the mailboxes page (\"Sign in\", PKCE); \
tlswatch keeps the refresh token. --client-id, --authorize-url, --token-url (or --tenant), \
client secret on stdin (an empty line for a public client).\n\n\
IMAP with OAuth signs in with SASL XOAUTH2 (default) or OAUTHBEARER (--sasl)."
    )]
    Add(Box<MailboxAddArgs>),
    /// List mailboxes with their last poll.
    List,
    /// Poll every enabled mailbox now, once.
    Poll(LimitArgs),
}

/// Settings of `mailbox add`.
#[derive(Debug, Clone, Args)]
pub struct MailboxAddArgs {
    /// A name for people.
    #[arg(long)]
    pub name: String,
    /// `imap` or `graph` (Microsoft Graph).
    #[arg(long, default_value = "imap", value_parser = ["imap", "graph"])]
    pub kind: String,
    /// How tlswatch signs in.
    #[arg(long, default_value = "password", value_parser = ["password", "client-credentials", "service-account", "authorization-code"])]
    pub auth: String,
    /// IMAP server host name; for `graph` the Graph base URL (default
    /// https://graph.microsoft.com).
    #[arg(long)]
    pub host: Option<String>,
    /// Microsoft Entra tenant (directory id or domain).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Microsoft identity platform base URL for national clouds (default
    /// https://login.microsoftonline.com).
    #[arg(long)]
    pub authority: Option<String>,
    /// OAuth token endpoint (default: from the tenant, or from the service account key).
    #[arg(long)]
    pub token_url: Option<String>,
    /// OAuth authorization endpoint (authorization-code).
    #[arg(long)]
    pub authorize_url: Option<String>,
    /// OAuth client (application) id.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Scopes, space-separated (default: the usual one for the kind and method).
    #[arg(long)]
    pub scope: Option<String>,
    /// SASL mechanism for IMAP with OAuth.
    #[arg(long, value_parser = ["xoauth2", "oauthbearer"])]
    pub sasl: Option<String>,
    /// Delete archived report mails older than this many days (needs --archive-folder).
    #[arg(long)]
    pub retention_days: Option<i64>,
    /// Port (default 993 for implicit TLS, 143 for STARTTLS).
    #[arg(long)]
    pub port: Option<u16>,
    /// `implicit` (TLS from the first byte) or `starttls`.
    #[arg(long, default_value = "implicit", value_parser = ["implicit", "starttls"])]
    pub tls: String,
    /// Login user name; the mailbox's address for OAuth and Graph.
    #[arg(long)]
    pub user: String,
    /// Folder to read (Graph: a well-known name such as `inbox`, or display names separated by
    /// `/`).
    #[arg(long, default_value = "INBOX")]
    pub folder: String,
    /// Move imported mails here (default: mark them seen and leave them).
    #[arg(long)]
    pub archive_folder: Option<String>,
    /// Move mails that are not reports here (default: mark them seen and leave them).
    #[arg(long)]
    pub rejected_folder: Option<String>,
    /// Poll interval in seconds.
    #[arg(long, default_value_t = 300)]
    pub interval: i64,
    /// Register unknown policy domains found in this mailbox's reports. Off by default:
    /// anyone can send mail to a reporting address, so its reports for domains nobody
    /// registered wait in the quarantine until `tlswatch domain add`.
    #[arg(long)]
    pub auto_register_domains: bool,
}

/// `tlswatch domain …`.
#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Register a domain (the HTTPS receiver accepts reports only for registered domains)
    /// and claim it for an organization. The organization sees it once the TXT record printed
    /// is published (`domain verify`), or at once with `--verified`.
    Add {
        /// The policy domain, e.g. `example.com`.
        name: String,
        /// The organization (by name) claiming it; the default organization when left out.
        #[arg(long)]
        org: Option<String>,
        /// Vouch for the organization's ownership: skip the DNS proof.
        #[arg(long)]
        verified: bool,
    },
    /// Look up a claim's TXT record now.
    Verify {
        /// The domain.
        name: String,
        /// The organization (by name); the default organization when left out.
        #[arg(long)]
        org: Option<String>,
        #[allow(missing_docs)]
        #[command(flatten)]
        checker: CheckerArgs,
    },
    /// List registered domains with the organizations that claim them and whether each
    /// claim is proven.
    List,
}

/// `tlswatch org …`.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (it starts with the default organization's alert rules).
    Add {
        /// Its name (letters, digits, spaces, `.`, `-`, `_`; at most 64).
        name: String,
    },
    /// List organizations.
    List,
}

/// `tlswatch quarantine …`.
#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List rejected inputs not yet re-processed, newest first.
    List {
        /// How many to show.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Write the raw bytes of a rejected input to standard output.
    Show {
        /// Its id (from `list`).
        id: i64,
    },
    /// Run rejected inputs through the importer again (after an upgrade, or after registering
    /// their domain).
    Reprocess {
        /// Ids to re-process; none means every listed input.
        ids: Vec<i64>,
        #[allow(missing_docs)]
        #[command(flatten)]
        auto_register: AutoRegister,
        #[allow(missing_docs)]
        #[command(flatten)]
        limits: LimitArgs,
    },
}

/// `tlswatch secrets …`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Seal every stored secret with a new key and write the key file (or print the new key
    /// when TLSWATCH_SECRET_KEY is set). Stop other instances first.
    Rotate,
}

/// Settings shared by every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST/DB`. Default: a SQLite file
    /// `tlswatch.db` in the data directory, created on first start.
    #[arg(
        long,
        env = "TLSWATCH_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Data directory (the default SQLite database and the secret key file live here).
    #[arg(
        long,
        env = "TLSWATCH_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Key sealing stored secrets (mailbox passwords, channel settings): 32 bytes, base64.
    /// Default: `secret.key` in the data directory, created on first start. Instances sharing
    /// a database must share the key.
    #[arg(
        long,
        env = "TLSWATCH_SECRET_KEY",
        global = true,
        hide_env_values = true
    )]
    pub secret_key: Option<String>,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `tlswatch=debug,sqlx=warn`.
    #[arg(
        long,
        env = "TLSWATCH_LOG",
        default_value = "info,sqlx=warn,memory_serve=warn",
        global = true
    )]
    pub log: String,
    /// Log format.
    #[arg(long, env = "TLSWATCH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// PEM file of root certificates trusted in addition to the public WebPKI roots (IMAP
    /// servers, alert channels, checked hosts on a private CA).
    #[arg(long, env = "TLSWATCH_EXTRA_CA_FILE", global = true)]
    pub extra_ca_file: Option<PathBuf>,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub mailbox_private: MailboxPrivate,
    /// Database connection pool size.
    #[arg(
        long,
        env = "TLSWATCH_DB_MAX_CONNECTIONS",
        default_value_t = 8,
        global = true
    )]
    pub db_max_connections: u32,
}

/// Bounds on untrusted input: one budget per input (a mail, a file, a POST body), shared by
/// all its parts, nested mails and archive entries.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Input limits (one budget per input)")]
pub struct LimitArgs {
    /// Largest mail, upload or POST body accepted, in bytes.
    #[arg(long, env = "TLSWATCH_MAX_INPUT_BYTES", default_value_t = 15_000_000)]
    pub max_input_bytes: usize,
    /// Most bytes one input may inflate to, all its reports together.
    #[arg(
        long,
        env = "TLSWATCH_MAX_DECOMPRESSED_BYTES",
        default_value_t = 20_000_000
    )]
    pub max_decompressed_bytes: usize,
    /// Most reports in one input.
    #[arg(long, env = "TLSWATCH_MAX_REPORTS_PER_INPUT", default_value_t = 1_000)]
    pub max_reports_per_input: usize,
    /// Most MIME parts and archive entries examined in one input.
    #[arg(long, env = "TLSWATCH_MAX_PARTS_PER_INPUT", default_value_t = 2_000)]
    pub max_parts_per_input: usize,
    /// Most entries a zip archive may list.
    #[arg(long, env = "TLSWATCH_MAX_ZIP_ENTRIES", default_value_t = 1_000)]
    pub max_zip_entries: usize,
    /// Deepest MIME nesting accepted in a mail.
    #[arg(long, env = "TLSWATCH_MAX_MIME_DEPTH", default_value_t = 20)]
    pub max_mime_depth: usize,
    /// Most inputs the quarantine keeps; beyond it the oldest from the open receiver (then
    /// from mailboxes) are evicted.
    #[arg(
        long,
        env = "TLSWATCH_QUARANTINE_MAX_ENTRIES",
        default_value_t = 10_000
    )]
    pub quarantine_max_entries: i64,
    /// Most bytes (compressed) the quarantine keeps.
    #[arg(long, env = "TLSWATCH_QUARANTINE_MAX_BYTES", default_value_t = 256 << 20)]
    pub quarantine_max_bytes: i64,
    /// Keep reports this many days (by their end date), then delete them; the daily totals
    /// behind the charts stay. Reports older than this are not imported. Off by default.
    #[arg(long, env = "TLSWATCH_RETENTION_DAYS", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: Option<u32>,
}

impl LimitArgs {
    /// Input limits in effect.
    pub fn limits(&self) -> Limits {
        Limits {
            max_input: self.max_input_bytes,
            max_decompressed: self.max_decompressed_bytes,
            max_zip_entries: self.max_zip_entries,
            max_mime_depth: self.max_mime_depth,
            max_reports: self.max_reports_per_input,
            max_parts: self.max_parts_per_input,
            max_report_age_days: self.retention_days,
        }
    }

    /// The quarantine quota in effect.
    pub fn quarantine_quota(&self) -> crate::store::QuarantineQuota {
        crate::store::QuarantineQuota {
            max_entries: self.quarantine_max_entries.max(1),
            max_bytes: self.quarantine_max_bytes.max(1),
        }
    }
}

/// The configuration checker's network settings.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Configuration checks")]
pub struct CheckerArgs {
    /// DNS servers the checker asks, comma-separated (`1.1.1.1`, `10.0.0.53:5353`, `[::1]:53`).
    /// Default: the system's (/etc/resolv.conf).
    #[arg(long, env = "TLSWATCH_DNS_SERVERS", value_delimiter = ',')]
    pub dns_servers: Vec<String>,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub private: CheckPrivate,
    /// Name the checker sends in SMTP EHLO.
    #[arg(
        long,
        env = "TLSWATCH_CHECK_EHLO_NAME",
        default_value = "tlswatch.invalid"
    )]
    pub check_ehlo_name: String,
    /// Policy host port (443). Only labs change it.
    #[arg(
        long,
        env = "TLSWATCH_CHECK_HTTPS_PORT",
        default_value_t = 443,
        hide = true
    )]
    pub check_https_port: u16,
    /// MX SMTP port (25). Only labs change it.
    #[arg(
        long,
        env = "TLSWATCH_CHECK_SMTP_PORT",
        default_value_t = 25,
        hide = true
    )]
    pub check_smtp_port: u16,
}

switch! {
    /// Let the checker connect to loopback, private, link-local and other non-public
    /// addresses. Off by default, so that a user who types a domain cannot make tlswatch
    /// probe the internal network; turn on for labs and private deployments.
    CheckPrivate { check_allow_private, no_check_allow_private, "check-allow-private",
                   "no-check-allow-private", "TLSWATCH_CHECK_ALLOW_PRIVATE", "false" }
}

impl CheckerArgs {
    /// Whether private addresses may be probed.
    pub fn allow_private(&self) -> bool {
        self.private.get()
    }

    /// The checker these settings describe.
    pub fn checker(&self, global: &GlobalArgs) -> anyhow::Result<crate::check::Checker> {
        let mut servers = Vec::new();
        for s in self.dns_servers.iter().filter(|s| !s.trim().is_empty()) {
            servers.push(crate::check::dns::parse_server(s).ok_or_else(|| {
                anyhow::anyhow!("TLSWATCH_DNS_SERVERS: {s:?} is not an address or address:port")
            })?);
        }
        let mut config = crate::check::CheckerConfig::new(crate::net::tls::roots(
            global.extra_ca_file.as_deref(),
        )?);
        config.dns_servers = servers;
        config.allow_private = self.allow_private();
        config.ehlo_name = self.check_ehlo_name.clone();
        config.https_port = self.check_https_port;
        config.smtp_port = self.check_smtp_port;
        crate::check::Checker::new(config)
    }
}

switch! {
    /// Register unknown policy domains found in reports imported by a signed-in user (CLI
    /// import, upload page). Mailboxes register domains only when the mailbox is set to;
    /// the open HTTPS receiver never does.
    AutoRegister { auto_register_domains, no_auto_register_domains, "auto-register-domains",
                   "no-auto-register-domains", "TLSWATCH_AUTO_REGISTER_DOMAINS", "true" }
}

impl AutoRegister {
    /// The domain policy in effect.
    pub fn domain_policy(&self) -> crate::store::DomainPolicy {
        if self.get() {
            crate::store::DomainPolicy::AutoRegister
        } else {
            crate::store::DomainPolicy::KnownOnly
        }
    }
}

impl GlobalArgs {
    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("tlswatch.db").display()),
        }
    }

    /// The IMAP poller these settings describe.
    pub fn imap_poller(
        &self,
        limits: &LimitArgs,
    ) -> anyhow::Result<crate::ingest::imap::ImapPoller> {
        let tls = crate::net::tls::client_config(self.extra_ca_file.as_deref())?;
        Ok(crate::ingest::imap::ImapPoller {
            tokens: crate::ingest::oauth::Tokens::new(
                tls.clone(),
                self.mailbox_private.get(),
                std::time::Duration::from_secs(30),
            )?,
            tls,
            limits: limits.limits(),
        })
    }

    /// The secret sealer: `TLSWATCH_SECRET_KEY`, else the key file in the data directory.
    pub fn sealer(&self) -> anyhow::Result<crate::secrets::Sealer> {
        crate::secrets::Sealer::load(self.secret_key.as_deref(), &self.data_dir)
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Settings of `serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "TLSWATCH_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// Serve the site (WASM, CSS, ECharts) from this directory instead of the copy embedded in
    /// the binary (for front-end work; `cargo leptos watch` sets `LEPTOS_SITE_ROOT` instead).
    #[arg(long, env = "TLSWATCH_SITE_ROOT")]
    pub site_root: Option<PathBuf>,
    /// Secret path segment for the RFC 8460 HTTPS receiver: when set, reports are accepted only
    /// at `POST /tlsrpt/SECRET` (publish that URL in your `_smtp._tls` record) and `POST /tlsrpt`
    /// answers 404.
    #[arg(long, env = "TLSWATCH_RECEIVER_SECRET", hide_env_values = true)]
    pub receiver_secret: Option<String>,
    /// Reports per minute the HTTPS receiver accepts from one client address.
    #[arg(long, env = "TLSWATCH_RECEIVER_RATE_PER_MINUTE", default_value_t = 60)]
    pub receiver_rate_per_minute: u32,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub secure_cookies: SecureCookies,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub auto_register: AutoRegister,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub limits: LimitArgs,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub checker: CheckerArgs,
    /// Proxies (addresses or networks, comma-separated) whose `X-Forwarded-For` names the
    /// client, for the receiver's rate limit and the logs. Default: none, the peer is the client.
    #[arg(long, env = "TLSWATCH_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Reports the open receiver reads and prepares at once, all clients together; beyond it
    /// it answers 503 with `Retry-After`.
    #[arg(long, env = "TLSWATCH_RECEIVER_MAX_IN_FLIGHT", default_value_t = 64)]
    pub receiver_max_in_flight: usize,
    /// Server-side deadline of a request, in seconds (uploads and received reports: 4×).
    #[arg(long, env = "TLSWATCH_REQUEST_TIMEOUT_SECONDS", default_value_t = 30)]
    pub request_timeout_seconds: u64,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub alert_private: AlertPrivate,
    /// Sign users out after this many minutes without a request.
    #[arg(long, env = "TLSWATCH_SESSION_IDLE_MINUTES", default_value_t = 720)]
    pub session_idle_minutes: i64,
    /// Sign users out this many hours after they signed in, whatever their activity.
    #[arg(long, env = "TLSWATCH_SESSION_ABSOLUTE_HOURS", default_value_t = 168)]
    pub session_absolute_hours: i64,
    /// How often the scheduler looks for mailboxes due for a poll, in seconds.
    #[arg(long, env = "TLSWATCH_MAILBOX_SCHEDULER_SECONDS", default_value_t = 30)]
    pub mailbox_scheduler_seconds: u64,
    /// Re-check every registered domain's MTA-STS and TLS-RPT configuration this often, in
    /// minutes (0 turns scheduled checks off).
    #[arg(long, env = "TLSWATCH_CHECK_INTERVAL_MINUTES", default_value_t = 360)]
    pub check_interval_minutes: u64,
    /// Scheduled checks run at once.
    #[arg(long, env = "TLSWATCH_CHECK_CONCURRENCY", default_value_t = 8)]
    pub check_concurrency: usize,
    /// The mailbox tlswatch polls for reports, proposed by the guided setup as the
    /// `mailto:` destination of `_smtp._tls` records.
    #[arg(long, env = "TLSWATCH_REPORT_ADDRESS")]
    pub report_address: Option<String>,
    /// The https:// URL users and senders reach this tlswatch at: links in alert messages, and
    /// the HTTPS destination the guided setup proposes for `_smtp._tls` records.
    #[arg(long, env = "TLSWATCH_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// How often alert rules are evaluated and notifications sent, in seconds (also right after
    /// each import through the receiver or the upload page).
    #[arg(long, env = "TLSWATCH_ALERT_INTERVAL_SECONDS", default_value_t = 60)]
    pub alert_interval_seconds: u64,
    /// Wait this long after a group's first alert fires before notifying, to send alerts that
    /// fire together in one message.
    #[arg(long, env = "TLSWATCH_ALERT_GROUP_WAIT_SECONDS", default_value_t = 30)]
    pub alert_group_wait_seconds: i64,
    /// Repeat a firing, unacknowledged alert this often, in minutes.
    #[arg(long, env = "TLSWATCH_ALERT_REPEAT_MINUTES", default_value_t = 240)]
    pub alert_repeat_minutes: i64,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub policy_host: PolicyHostArgs,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub sso: SsoArgs,
}

switch! {
    /// Whether users may sign in with an e-mail and a password kept by tlswatch. Turn it off
    /// when everyone signs in through the identity provider (single sign-on).
    LocalPasswords { local_passwords, no_local_passwords, "local-passwords",
                     "no-local-passwords", "TLSWATCH_LOCAL_PASSWORDS", "true" }
}

/// Single sign-on with OpenID Connect (authorization code flow with PKCE).
#[derive(Debug, Clone, Args)]
pub struct SsoArgs {
    /// The identity provider's issuer URL (its discovery document is at
    /// `ISSUER/.well-known/openid-configuration`). Single sign-on is off when unset.
    #[arg(long, env = "TLSWATCH_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The client id tlswatch is registered with at the provider.
    #[arg(long, env = "TLSWATCH_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret (keep it in the environment, not on the command line).
    #[arg(long, env = "TLSWATCH_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,
    /// How the client authenticates at the token endpoint: `client_secret_basic` or
    /// `client_secret_post`.
    #[arg(long, env = "TLSWATCH_OIDC_TOKEN_AUTH_METHOD", default_value = "client_secret_basic",
          value_parser = ["client_secret_basic", "client_secret_post"])]
    pub oidc_token_auth_method: String,
    /// Scopes to ask for (space- or comma-separated; `openid` is always asked).
    #[arg(
        long,
        env = "TLSWATCH_OIDC_SCOPES",
        default_value = "openid email profile"
    )]
    pub oidc_scopes: String,
    /// The claim (a dotted path, e.g. `tlswatch.org`) naming the user's organization; the
    /// default organization when unset or absent.
    #[arg(long, env = "TLSWATCH_OIDC_ORG_CLAIM")]
    pub oidc_org_claim: Option<String>,
    /// The claim (a dotted path) holding the user's role: `viewer`, `editor` or `admin`.
    #[arg(long, env = "TLSWATCH_OIDC_ROLE_CLAIM")]
    pub oidc_role_claim: Option<String>,
    /// The role of users whose role claim is unset or absent.
    #[arg(long, env = "TLSWATCH_OIDC_DEFAULT_ROLE", default_value = "viewer",
          value_parser = ["viewer", "editor", "admin"])]
    pub oidc_default_role: String,
    /// The claim (a dotted path) listing the user's groups.
    #[arg(long, env = "TLSWATCH_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// Only members of one of these groups (comma-separated) may sign in; everyone the
    /// provider signs in when unset.
    #[arg(long, env = "TLSWATCH_OIDC_ALLOWED_GROUPS", value_delimiter = ',')]
    pub oidc_allowed_groups: Vec<String>,
    /// The sign-in button's words.
    #[arg(
        long,
        env = "TLSWATCH_OIDC_BUTTON",
        default_value = "Sign in with single sign-on"
    )]
    pub oidc_button: String,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub local_passwords: LocalPasswords,
}

impl SsoArgs {
    /// The single sign-on settings, when an issuer is set.
    pub fn settings(&self) -> anyhow::Result<Option<crate::auth::oidc::SsoSettings>> {
        let Some(issuer) = self.oidc_issuer.as_ref().filter(|i| !i.trim().is_empty()) else {
            return Ok(None);
        };
        let client_id = self
            .oidc_client_id
            .clone()
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("TLSWATCH_OIDC_ISSUER is set: set TLSWATCH_OIDC_CLIENT_ID too")
            })?;
        let nonempty = |v: &Option<String>| v.clone().filter(|c| !c.trim().is_empty());
        Ok(Some(crate::auth::oidc::SsoSettings {
            issuer: issuer.trim().to_owned(),
            client_id,
            client_secret: nonempty(&self.oidc_client_secret),
            post_secret: self.oidc_token_auth_method == "client_secret_post",
            scopes: self
                .oidc_scopes
                .split([' ', ','])
                .map(str::trim)
                .filter(|s| !s.is_empty() && *s != "openid")
                .map(str::to_owned)
                .collect(),
            org_claim: nonempty(&self.oidc_org_claim),
            role_claim: nonempty(&self.oidc_role_claim),
            default_role: app::auth::Role::parse(&self.oidc_default_role)
                .unwrap_or(app::auth::Role::Viewer),
            groups_claim: self.oidc_groups_claim.clone(),
            allowed_groups: self
                .oidc_allowed_groups
                .iter()
                .map(|g| g.trim().to_owned())
                .filter(|g| !g.is_empty())
                .collect(),
            button: self.oidc_button.clone(),
        }))
    }
}

/// Hosted MTA-STS policies: the built-in TLS listener and ACME.
#[derive(Debug, Clone, Args)]
pub struct PolicyHostArgs {
    /// Serve the hosted policies over TLS on this address (usually `[::]:443`), with
    /// certificates from the ACME CA below. Off by default: behind a TLS proxy the HTTP
    /// listener answers for `mta-sts.<domain>` hosts.
    #[arg(long, env = "TLSWATCH_POLICY_LISTEN")]
    pub policy_listen: Option<SocketAddr>,
    /// ACME directory URL to obtain the policy hosts' certificates from, e.g.
    /// `https://acme-v02.api.letsencrypt.org/directory`. Off when unset.
    #[arg(long, env = "TLSWATCH_ACME_DIRECTORY")]
    pub acme_directory: Option<String>,
    /// PEM root that signs the ACME server's own certificate (a private or test CA).
    #[arg(long, env = "TLSWATCH_ACME_CA_FILE")]
    pub acme_ca_file: Option<PathBuf>,
    /// Contact e-mail for the ACME account.
    #[arg(long, env = "TLSWATCH_ACME_CONTACT")]
    pub acme_contact: Option<String>,
    /// How the CA validates the policy hosts: `tls-alpn-01` on the policy listener (port 443),
    /// or `http-01` on the HTTP listener (port 80 must reach it).
    #[arg(long, env = "TLSWATCH_ACME_CHALLENGE", value_enum, default_value_t = crate::hosting::acme::Challenge::TlsAlpn01)]
    pub acme_challenge: crate::hosting::acme::Challenge,
    /// Renew a certificate this many days before it expires.
    #[arg(long, env = "TLSWATCH_ACME_RENEW_DAYS", default_value_t = 30)]
    pub acme_renew_days: u64,
    /// Look for policy hosts needing a certificate this often, in seconds (also right after a
    /// hosted policy changes).
    #[arg(long, env = "TLSWATCH_ACME_INTERVAL_SECONDS", default_value_t = 3600)]
    pub acme_interval_seconds: u64,
}

impl PolicyHostArgs {
    /// The ACME settings, when a directory is set.
    pub fn acme(&self) -> Option<crate::hosting::acme::AcmeSettings> {
        self.acme_directory
            .as_ref()
            .map(|directory| crate::hosting::acme::AcmeSettings {
                directory: directory.clone(),
                ca_file: self.acme_ca_file.clone(),
                contact: self.acme_contact.clone(),
                challenge: self.acme_challenge,
                renew_before: std::time::Duration::from_secs(self.acme_renew_days * 86_400),
                interval: std::time::Duration::from_secs(self.acme_interval_seconds.max(1)),
                order_timeout: std::time::Duration::from_secs(90),
            })
    }
}

/// Output format of `import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// A progress bar and a summary.
    Text,
    /// One JSON object per input: `path`, `status`, `reason`, `reports`.
    Json,
}

/// Settings of `import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Files and directories (searched recursively; mbox files and Maildir folders included).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub auto_register: AutoRegister,
    #[allow(missing_docs)]
    #[command(flatten)]
    pub limits: LimitArgs,
}

switch! {
    /// Mark the session cookie `Secure`. Turn on when users reach tlswatch over HTTPS (directly
    /// or through a TLS-terminating proxy).
    SecureCookies { secure_cookies, no_secure_cookies, "secure-cookies", "no-secure-cookies",
                    "TLSWATCH_SECURE_COOKIES", "false" }
}

switch! {
    /// Let mailboxes' OAuth token endpoints and Microsoft Graph base URLs be on loopback,
    /// private and other non-public addresses (an internal identity provider, tests). Off by
    /// default. IMAP servers are always reachable wherever they are: the admin names them.
    MailboxPrivate { mailbox_allow_private, no_mailbox_allow_private, "mailbox-allow-private",
                     "no-mailbox-allow-private", "TLSWATCH_MAILBOX_ALLOW_PRIVATE", "false" }
}

switch! {
    /// Let alert channels (webhook, Slack, Teams, SMTP) connect to loopback, private and other
    /// non-public addresses. Off by default, so that a channel cannot be aimed at the internal
    /// network.
    AlertPrivate { alert_allow_private, no_alert_allow_private, "alert-allow-private",
                   "no-alert-allow-private", "TLSWATCH_ALERT_ALLOW_PRIVATE", "false" }
}
