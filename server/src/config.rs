//! Settings: command-line flags and `TLSWATCH_*` environment variables (clap).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::ingest::Limits;

/// tlswatch: a self-hosted dashboard for TLS-RPT reports and MTA-STS health.
///
/// Every flag can also be set through the environment variable shown next to it.
#[derive(Debug, Parser)]
#[command(name = "tlswatch", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// Settings shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// Settings of `serve`, the default command.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Commands.
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
    /// Inspect and re-process inputs that were rejected (kept with the reason).
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Check a domain's MTA-STS and TLS-RPT configuration now (exit 2 when a check fails).
    Check(CheckArgs),
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
    },
    /// List users.
    List,
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
    /// Add a mailbox. The password is read from standard input (one line).
    Add(MailboxAddArgs),
    /// List mailboxes with their last poll.
    List,
    /// Poll every enabled mailbox now, once.
    Poll,
}

/// Settings of `mailbox add`.
#[derive(Debug, Clone, Args)]
pub struct MailboxAddArgs {
    /// A name for people.
    #[arg(long)]
    pub name: String,
    /// IMAP server host name.
    #[arg(long)]
    pub host: String,
    /// Port (default 993 for implicit TLS, 143 for STARTTLS).
    #[arg(long)]
    pub port: Option<u16>,
    /// `implicit` (TLS from the first byte) or `starttls`.
    #[arg(long, default_value = "implicit", value_parser = ["implicit", "starttls"])]
    pub tls: String,
    /// Login user name.
    #[arg(long)]
    pub user: String,
    /// Folder to read.
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
}

/// `tlswatch domain …`.
#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Register a domain (the HTTPS receiver accepts reports only for registered domains).
    Add {
        /// The policy domain, e.g. `example.com`.
        name: String,
    },
    /// List registered domains.
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
    },
}

/// Settings shared by every command.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Database URL: `sqlite://PATH` or `postgres://USER@HOST/DB`. Default: a SQLite file
    /// `tlswatch.db` in the data directory, created on first start.
    #[arg(long, env = "TLSWATCH_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Data directory (the default SQLite database lives here).
    #[arg(
        long,
        env = "TLSWATCH_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `tlswatch=debug,sqlx=warn`.
    #[arg(
        long,
        env = "TLSWATCH_LOG",
        default_value = "info,sqlx=warn",
        global = true
    )]
    pub log: String,
    /// Log format.
    #[arg(long, env = "TLSWATCH_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Largest mail, upload or POST body accepted, in bytes.
    #[arg(
        long,
        env = "TLSWATCH_MAX_INPUT_BYTES",
        default_value_t = 15_000_000,
        global = true
    )]
    pub max_input_bytes: usize,
    /// Largest report after decompression, in bytes.
    #[arg(
        long,
        env = "TLSWATCH_MAX_DECOMPRESSED_BYTES",
        default_value_t = 20_000_000,
        global = true
    )]
    pub max_decompressed_bytes: usize,
    /// Most entries a zip archive may have.
    #[arg(
        long,
        env = "TLSWATCH_MAX_ZIP_ENTRIES",
        default_value_t = 1_000,
        global = true
    )]
    pub max_zip_entries: usize,
    /// Deepest MIME nesting accepted in a mail.
    #[arg(
        long,
        env = "TLSWATCH_MAX_MIME_DEPTH",
        default_value_t = 20,
        global = true
    )]
    pub max_mime_depth: usize,
    /// Register unknown policy domains found in reports from authenticated channels (CLI,
    /// upload, IMAP). The open HTTPS receiver never registers domains.
    #[arg(long, env = "TLSWATCH_AUTO_REGISTER_DOMAINS", default_value = "true", value_parser = BoolishValueParser::new(), global = true)]
    pub auto_register_domains: bool,
    /// PEM file of root certificates trusted in addition to the public WebPKI roots (IMAP
    /// servers, checked hosts on a private CA).
    #[arg(long, env = "TLSWATCH_EXTRA_CA_FILE", global = true)]
    pub extra_ca_file: Option<PathBuf>,
    /// DNS servers the checker asks, comma-separated (`1.1.1.1`, `10.0.0.53:5353`, `[::1]:53`).
    /// Default: the system's (/etc/resolv.conf).
    #[arg(
        long,
        env = "TLSWATCH_DNS_SERVERS",
        value_delimiter = ',',
        global = true
    )]
    pub dns_servers: Vec<String>,
    /// Let the checker connect to loopback, private, link-local and other non-public addresses.
    /// Off by default, so that a user who types a domain cannot make tlswatch probe the internal
    /// network; turn on for labs and private deployments.
    #[arg(long, env = "TLSWATCH_CHECK_ALLOW_PRIVATE", default_value = "false", value_parser = BoolishValueParser::new(), global = true)]
    pub check_allow_private: bool,
    /// Name the checker sends in SMTP EHLO.
    #[arg(
        long,
        env = "TLSWATCH_CHECK_EHLO_NAME",
        default_value = "tlswatch.invalid",
        global = true
    )]
    pub check_ehlo_name: String,
    /// Policy host port (443). Only labs change it.
    #[arg(
        long,
        env = "TLSWATCH_CHECK_HTTPS_PORT",
        default_value_t = 443,
        global = true,
        hide = true
    )]
    pub check_https_port: u16,
    /// MX SMTP port (25). Only labs change it.
    #[arg(
        long,
        env = "TLSWATCH_CHECK_SMTP_PORT",
        default_value_t = 25,
        global = true,
        hide = true
    )]
    pub check_smtp_port: u16,
    /// Database connection pool size.
    #[arg(
        long,
        env = "TLSWATCH_DB_MAX_CONNECTIONS",
        default_value_t = 8,
        global = true
    )]
    pub db_max_connections: u32,
}

impl GlobalArgs {
    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.clone(),
            _ => format!("sqlite://{}", self.data_dir.join("tlswatch.db").display()),
        }
    }

    /// Whether unknown domains are registered by authenticated imports.
    pub fn domain_policy(&self) -> crate::store::DomainPolicy {
        if self.auto_register_domains {
            crate::store::DomainPolicy::AutoRegister
        } else {
            crate::store::DomainPolicy::KnownOnly
        }
    }

    /// The IMAP poller these settings describe.
    pub fn imap_poller(&self) -> anyhow::Result<crate::ingest::imap::ImapPoller> {
        Ok(crate::ingest::imap::ImapPoller {
            tls: crate::net::tls::client_config(self.extra_ca_file.as_deref())?,
            limits: self.limits(),
            domains: self.domain_policy(),
        })
    }

    /// The checker these settings describe.
    pub fn checker(&self) -> anyhow::Result<crate::check::Checker> {
        let mut servers = Vec::new();
        for s in self.dns_servers.iter().filter(|s| !s.trim().is_empty()) {
            servers.push(crate::check::dns::parse_server(s).ok_or_else(|| {
                anyhow::anyhow!("TLSWATCH_DNS_SERVERS: {s:?} is not an address or address:port")
            })?);
        }
        let mut config = crate::check::CheckerConfig::new(crate::net::tls::roots(
            self.extra_ca_file.as_deref(),
        )?);
        config.dns_servers = servers;
        config.allow_private = self.check_allow_private;
        config.ehlo_name = self.check_ehlo_name.clone();
        config.https_port = self.check_https_port;
        config.smtp_port = self.check_smtp_port;
        crate::check::Checker::new(config)
    }

    /// Input limits in effect.
    pub fn limits(&self) -> Limits {
        Limits {
            max_input: self.max_input_bytes,
            max_decompressed: self.max_decompressed_bytes,
            max_zip_entries: self.max_zip_entries,
            max_mime_depth: self.max_mime_depth,
        }
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
    /// Directory with the built site (WASM, CSS, ECharts). Default: `LEPTOS_SITE_ROOT`, else
    /// `target/site`.
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
    /// Mark the session cookie `Secure`. Turn on when users reach tlswatch over HTTPS (directly
    /// or through a TLS-terminating proxy).
    #[arg(long, env = "TLSWATCH_SECURE_COOKIES", default_value = "false", value_parser = BoolishValueParser::new())]
    pub secure_cookies: bool,
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
}
