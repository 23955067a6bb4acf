//! SMTP commands (RFC 5321 §4.1) and the ESMTP parameters of MAIL and RCPT (RFC 1870,
//! RFC 6152, RFC 3030, RFC 6531, RFC 3461, RFC 4954): `Command`, `decode` and `encode`.

use crate::address::{path_len, AddressError, ForwardPath, ReversePath};
use crate::reply::{EnhancedCode, Reply};
use crate::xtext;
use std::fmt;

/// RFC 5321 §4.5.3.1.4: the longest command line, with its CRLF.
pub const MAX_COMMAND_LINE: usize = 512;
/// RFC 4954 §4: AUTH command lines and SASL responses may be up to 12288 octets.
pub const MAX_AUTH_LINE: usize = 12288;
/// RFC 3461 §4.4: the longest ENVID value, as xtext.
pub const MAX_ENVID: usize = 100;
/// RFC 3461 §4.2: the longest ORCPT value, as xtext.
pub const MAX_ORCPT: usize = 500;

/// One command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `EHLO domain` (§4.1.1.1): the client speaks ESMTP.
    Ehlo(String),
    /// `HELO domain` (§4.1.1.1).
    Helo(String),
    /// `MAIL FROM:<path> [params]` (§4.1.1.2).
    Mail {
        /// The reverse path.
        from: ReversePath,
        /// Its ESMTP parameters.
        params: MailParams,
    },
    /// `RCPT TO:<path> [params]` (§4.1.1.3).
    Rcpt {
        /// The forward path.
        to: ForwardPath,
        /// Its ESMTP parameters.
        params: RcptParams,
    },
    /// `DATA` (§4.1.1.4).
    Data,
    /// `BDAT size [LAST]` (RFC 3030 §2): `size` octets of message follow the line.
    Bdat {
        /// The chunk's length in octets.
        size: u64,
        /// Whether this is the last chunk.
        last: bool,
    },
    /// `RSET` (§4.1.1.5).
    Rset,
    /// `NOOP [string]` (§4.1.1.9); the string is ignored.
    Noop,
    /// `VRFY string` (§4.1.1.6).
    Vrfy(String),
    /// `EXPN string` (§4.1.1.7).
    Expn(String),
    /// `HELP [string]` (§4.1.1.8).
    Help(Option<String>),
    /// `QUIT` (§4.1.1.10).
    Quit,
    /// `STARTTLS` (RFC 3207 §4).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 §4).
    Auth {
        /// The SASL mechanism, upper case (`PLAIN`, `LOGIN`).
        mechanism: String,
        /// The base64 initial response as sent (`=` for an empty one).
        initial_response: Option<String>,
    },
}

impl Command {
    /// The verb, upper case, for logs (`MAIL`, `RCPT`, ...).
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::Help(_) => "HELP",
            Command::Quit => "QUIT",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } => "AUTH",
        }
    }

    /// Appends the command line with its CRLF. Control characters other than tab in free text
    /// (a HELO name, a VRFY string) are sent as spaces, so no command can carry a second one.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let text = self.to_string();
        for c in text.chars() {
            if c.is_control() && c != '\t' {
                out.push(b' ');
            } else {
                let mut buffer = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The command line with its CRLF.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

impl fmt::Display for Command {
    /// The command line without CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Ehlo(domain) => write!(f, "EHLO {domain}"),
            Command::Helo(domain) => write!(f, "HELO {domain}"),
            Command::Mail { from, params } => write!(f, "MAIL FROM:{from}{params}"),
            Command::Rcpt { to, params } => write!(f, "RCPT TO:{to}{params}"),
            Command::Data => f.write_str("DATA"),
            Command::Bdat { size, last: true } => write!(f, "BDAT {size} LAST"),
            Command::Bdat { size, last: false } => write!(f, "BDAT {size}"),
            Command::Rset => f.write_str("RSET"),
            Command::Noop => f.write_str("NOOP"),
            Command::Vrfy(text) => write!(f, "VRFY {text}"),
            Command::Expn(text) => write!(f, "EXPN {text}"),
            Command::Help(None) => f.write_str("HELP"),
            Command::Help(Some(topic)) => write!(f, "HELP {topic}"),
            Command::Quit => f.write_str("QUIT"),
            Command::StartTls => f.write_str("STARTTLS"),
            Command::Auth {
                mechanism,
                initial_response: None,
            } => write!(f, "AUTH {mechanism}"),
            Command::Auth {
                mechanism,
                initial_response: Some(response),
            } => write!(f, "AUTH {mechanism} {response}"),
        }
    }
}

/// The BODY parameter of MAIL (RFC 6152 §2, RFC 3030 §3).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum BodyType {
    /// `7BIT`.
    SevenBit,
    /// `8BITMIME` (RFC 6152).
    EightBitMime,
    /// `BINARYMIME` (RFC 3030 §3): only with BDAT.
    BinaryMime,
}

impl BodyType {
    /// The parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            BodyType::SevenBit => "7BIT",
            BodyType::EightBitMime => "8BITMIME",
            BodyType::BinaryMime => "BINARYMIME",
        }
    }
}

/// The RET parameter of MAIL (RFC 3461 §4.3).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `FULL`: return the whole message in a failure notice.
    Full,
    /// `HDRS`: return the headers only.
    Headers,
}

/// The AUTH parameter of MAIL (RFC 4954 §5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AuthParam {
    /// `AUTH=<>`: the submitter is not known or not trusted.
    Unknown,
    /// `AUTH=addr-spec`, xtext-decoded.
    Identity(String),
}

/// The ESMTP parameters of MAIL FROM that this crate knows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct MailParams {
    /// `SIZE=n` (RFC 1870 §3): the declared message size.
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152, RFC 3030).
    pub body: Option<BodyType>,
    /// `SMTPUTF8` (RFC 6531 §3.4).
    pub smtputf8: bool,
    /// `RET=` (RFC 3461 §4.3).
    pub ret: Option<Ret>,
    /// `ENVID=` (RFC 3461 §4.4), xtext-decoded.
    pub envid: Option<String>,
    /// `AUTH=` (RFC 4954 §5).
    pub auth: Option<AuthParam>,
}

impl MailParams {
    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        *self == MailParams::default()
    }
}

impl fmt::Display for MailParams {
    /// The parameters as sent, each after a space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(size) = self.size {
            write!(f, " SIZE={size}")?;
        }
        if let Some(body) = self.body {
            write!(f, " BODY={}", body.as_str())?;
        }
        if self.smtputf8 {
            f.write_str(" SMTPUTF8")?;
        }
        match self.ret {
            Some(Ret::Full) => f.write_str(" RET=FULL")?,
            Some(Ret::Headers) => f.write_str(" RET=HDRS")?,
            None => {}
        }
        if let Some(envid) = &self.envid {
            write!(f, " ENVID={}", xtext::encoded(envid))?;
        }
        match &self.auth {
            Some(AuthParam::Unknown) => f.write_str(" AUTH=<>")?,
            Some(AuthParam::Identity(identity)) => write!(f, " AUTH={}", xtext::encoded(identity))?,
            None => {}
        }
        Ok(())
    }
}

/// The NOTIFY parameter of RCPT (RFC 3461 §4.1): when to send a delivery status notification.
/// All three false is `NEVER`.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Notify {
    /// `SUCCESS`.
    pub success: bool,
    /// `FAILURE`.
    pub failure: bool,
    /// `DELAY`.
    pub delay: bool,
}

impl Notify {
    /// `NOTIFY=NEVER`.
    pub const NEVER: Notify = Notify {
        success: false,
        failure: false,
        delay: false,
    };
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = [
            (self.success, "SUCCESS"),
            (self.failure, "FAILURE"),
            (self.delay, "DELAY"),
        ]
        .into_iter()
        .filter_map(|(on, word)| on.then_some(word))
        .collect();
        if words.is_empty() {
            f.write_str("NEVER")
        } else {
            f.write_str(&words.join(","))
        }
    }
}

/// The ORCPT parameter of RCPT (RFC 3461 §4.2): the original recipient.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Orcpt {
    /// The address type, e.g. `rfc822`.
    pub addr_type: String,
    /// The address, xtext-decoded.
    pub address: String,
}

/// The ESMTP parameters of RCPT TO that this crate knows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RcptParams {
    /// `NOTIFY=` (RFC 3461 §4.1).
    pub notify: Option<Notify>,
    /// `ORCPT=` (RFC 3461 §4.2).
    pub orcpt: Option<Orcpt>,
}

impl RcptParams {
    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        *self == RcptParams::default()
    }
}

impl fmt::Display for RcptParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(notify) = self.notify {
            write!(f, " NOTIFY={notify}")?;
        }
        if let Some(orcpt) = &self.orcpt {
            write!(
                f,
                " ORCPT={};{}",
                orcpt.addr_type,
                xtext::encoded(&orcpt.address)
            )?;
        }
        Ok(())
    }
}

/// A recipient with its parameters, as a server accepted it or a client sends it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Recipient {
    /// The forward path.
    pub path: ForwardPath,
    /// Its parameters.
    pub params: RcptParams,
}

impl Recipient {
    /// A recipient without parameters.
    pub fn new(path: ForwardPath) -> Recipient {
        Recipient {
            path,
            params: RcptParams::default(),
        }
    }
}

/// Why a command line did not decode; [`CommandError::reply`] is the server's answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// An unknown verb.
    #[error("command not recognized")]
    Unrecognized,
    /// A line longer than 512 octets (12288 for AUTH).
    #[error("line too long")]
    LineTooLong,
    /// A line that is not UTF-8.
    #[error("bad UTF-8 syntax")]
    BadUtf8,
    /// A control character in the line (a bare CR, a NUL).
    #[error("bad character in command")]
    BadCharacter,
    /// The arguments do not fit the command's syntax.
    #[error("syntax: {usage}")]
    Syntax {
        /// The command's syntax.
        usage: &'static str,
    },
    /// A BDAT line that does not parse: its chunk cannot be skipped, so the server closes.
    #[error("syntax: BDAT size [LAST]")]
    BadBdat,
    /// The MAIL FROM path does not parse.
    #[error("bad sender address: {0}")]
    BadSender(AddressError),
    /// The RCPT TO path does not parse.
    #[error("bad recipient address: {0}")]
    BadRecipient(AddressError),
    /// An ESMTP parameter this server does not know.
    #[error("unsupported parameter {keyword}")]
    UnknownParameter {
        /// The keyword, as sent.
        keyword: String,
    },
    /// A known parameter with a bad value, or given twice.
    #[error("bad {keyword} parameter")]
    BadParameter {
        /// The keyword, upper case.
        keyword: String,
    },
}

impl CommandError {
    /// The reply a server sends for this error.
    pub fn reply(&self) -> Reply {
        match self {
            CommandError::Unrecognized => Reply::new(
                500,
                Some(EnhancedCode::SYNTAX),
                "Error: command not recognized",
            ),
            // RFC 5321 §4.5.3.1.10 answers 500; X.5.2 is the syntax class (RFC 3463 has no
            // code for a long command line; X.5.6 is RFC 4954's, for AUTH lines only).
            CommandError::LineTooLong => {
                Reply::new(500, Some(EnhancedCode::SYNTAX), "Error: line too long")
            }
            CommandError::BadUtf8 => {
                Reply::new(500, Some(EnhancedCode::SYNTAX), "Error: bad UTF-8 syntax")
            }
            CommandError::BadCharacter => Reply::new(
                500,
                Some(EnhancedCode::SYNTAX),
                "Error: bad character in command",
            ),
            CommandError::Syntax { usage } => Reply::new(
                501,
                Some(EnhancedCode::INVALID_ARGUMENTS),
                format!("Syntax: {usage}"),
            ),
            CommandError::BadBdat => Reply::new(
                501,
                Some(EnhancedCode::INVALID_ARGUMENTS),
                "Syntax: BDAT size [LAST]",
            ),
            CommandError::BadSender(_) => Reply::new(
                501,
                Some(EnhancedCode::BAD_SENDER_SYNTAX),
                "Bad sender address syntax",
            ),
            CommandError::BadRecipient(_) => Reply::new(
                501,
                Some(EnhancedCode::BAD_RECIPIENT_SYNTAX),
                "Bad recipient address syntax",
            ),
            // RFC 5321 §4.1.1.11: an unrecognised parameter gets 555.
            CommandError::UnknownParameter { keyword } => Reply::new(
                555,
                Some(EnhancedCode::INVALID_ARGUMENTS),
                format!("Unsupported option: {keyword}"),
            ),
            CommandError::BadParameter { keyword } => Reply::new(
                501,
                Some(EnhancedCode::INVALID_ARGUMENTS),
                format!("Bad {keyword} parameter syntax"),
            ),
        }
    }
}

const USAGE_EHLO: &str = "EHLO hostname";
const USAGE_HELO: &str = "HELO hostname";
const USAGE_MAIL: &str = "MAIL FROM:<address>";
const USAGE_RCPT: &str = "RCPT TO:<address>";
const USAGE_AUTH: &str = "AUTH mechanism [initial-response]";

/// Decodes one command line (its CRLF or LF may be included). Verbs and keywords are case
/// insensitive (RFC 5321 §2.4). The 512-octet limit of §4.5.3.1.4 is enforced here; AUTH lines
/// may have 12288 (RFC 4954 §4).
pub fn decode(line: &[u8]) -> Result<Command, CommandError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() + 2 > MAX_AUTH_LINE {
        return Err(CommandError::LineTooLong);
    }
    let line = std::str::from_utf8(line).map_err(|_| CommandError::BadUtf8)?;
    if line.chars().any(|c| c.is_control() && c != '\t') {
        return Err(CommandError::BadCharacter);
    }
    let (verb, rest) = match line.find(' ') {
        Some(space) => (
            line.get(..space).unwrap_or(""),
            line.get(space + 1..).unwrap_or(""),
        ),
        None => (line, ""),
    };
    let is_auth = verb.eq_ignore_ascii_case("AUTH");
    if !is_auth && line.len() + 2 > MAX_COMMAND_LINE {
        return Err(CommandError::LineTooLong);
    }
    // Trailing white space is common and harmless; leading space before arguments is too.
    let rest = rest.trim_matches([' ', '\t']);
    let no_args = |command: Command, usage: &'static str| {
        if rest.is_empty() {
            Ok(command)
        } else {
            Err(CommandError::Syntax { usage })
        }
    };
    let upper = verb.to_ascii_uppercase();
    match upper.as_str() {
        "EHLO" | "HELO" => {
            let usage = if upper == "EHLO" {
                USAGE_EHLO
            } else {
                USAGE_HELO
            };
            // Postfix-like leniency: the argument is kept as sent (clients send bare IP
            // addresses, names with underscores ...); the service judges it.
            if rest.is_empty() || rest.len() > crate::address::MAX_DOMAIN {
                return Err(CommandError::Syntax { usage });
            }
            Ok(if upper == "EHLO" {
                Command::Ehlo(rest.to_string())
            } else {
                Command::Helo(rest.to_string())
            })
        }
        "MAIL" => {
            let path =
                strip_keyword(rest, "FROM:").ok_or(CommandError::Syntax { usage: USAGE_MAIL })?;
            let (path, params) = split_path(path).map_err(CommandError::BadSender)?;
            let from = ReversePath::parse(path).map_err(CommandError::BadSender)?;
            Ok(Command::Mail {
                from,
                params: mail_params(params)?,
            })
        }
        "RCPT" => {
            let path =
                strip_keyword(rest, "TO:").ok_or(CommandError::Syntax { usage: USAGE_RCPT })?;
            let (path, params) = split_path(path).map_err(CommandError::BadRecipient)?;
            let to = ForwardPath::parse(path).map_err(CommandError::BadRecipient)?;
            Ok(Command::Rcpt {
                to,
                params: rcpt_params(params)?,
            })
        }
        "DATA" => no_args(Command::Data, "DATA"),
        "BDAT" => bdat(rest),
        "RSET" => no_args(Command::Rset, "RSET"),
        "NOOP" => Ok(Command::Noop),
        "VRFY" | "EXPN" => {
            if rest.is_empty() {
                return Err(CommandError::Syntax {
                    usage: if upper == "VRFY" {
                        "VRFY address"
                    } else {
                        "EXPN mailing-list"
                    },
                });
            }
            Ok(if upper == "VRFY" {
                Command::Vrfy(rest.to_string())
            } else {
                Command::Expn(rest.to_string())
            })
        }
        "HELP" => Ok(Command::Help((!rest.is_empty()).then(|| rest.to_string()))),
        "QUIT" => no_args(Command::Quit, "QUIT"),
        "STARTTLS" => no_args(Command::StartTls, "STARTTLS"),
        "AUTH" => auth(rest),
        _ => Err(CommandError::Unrecognized),
    }
}

/// Strips `FROM:` or `TO:` (case insensitive), and the spaces that many clients put after
/// the colon although RFC 5321 §4.1.1.2 has none (Postfix accepts them too).
fn strip_keyword<'a>(text: &'a str, keyword: &str) -> Option<&'a str> {
    let head = text.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    Some(text.get(keyword.len()..)?.trim_start_matches(' '))
}

/// Splits the bracketed path from the parameters after it.
fn split_path(text: &str) -> Result<(&str, &str), AddressError> {
    if !text.starts_with('<') {
        return Err(AddressError::MissingBrackets);
    }
    let len = path_len(text).ok_or(AddressError::MissingBrackets)?;
    let (path, params) = text.split_at(len);
    if !params.is_empty() && !params.starts_with(' ') {
        return Err(AddressError::MissingBrackets);
    }
    Ok((path, params))
}

/// Splits parameters into keyword and value, checking RFC 5321 §4.1.2's esmtp-keyword and
/// esmtp-value (RFC 6531 §3.3 lets values carry UTF-8).
fn params(text: &str) -> impl Iterator<Item = Result<(String, Option<&str>), CommandError>> {
    text.split(' ').filter(|p| !p.is_empty()).map(|param| {
        let (keyword, value) = match param.find('=') {
            Some(eq) => (
                param.get(..eq).unwrap_or(""),
                Some(param.get(eq + 1..).unwrap_or("")),
            ),
            None => (param, None),
        };
        let keyword_ok = keyword.starts_with(|c: char| c.is_ascii_alphanumeric())
            && keyword
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        let value_ok = value.is_none_or(|value| {
            !value.is_empty()
                && value
                    .chars()
                    .all(|c| c != '=' && (c > ' ') && c != '\u{7f}')
        });
        if !keyword_ok || !value_ok {
            return Err(CommandError::BadParameter {
                keyword: keyword.to_ascii_uppercase(),
            });
        }
        Ok((keyword.to_ascii_uppercase(), value))
    })
}

fn bad(keyword: &str) -> CommandError {
    CommandError::BadParameter {
        keyword: keyword.to_string(),
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, keyword: &str) -> Result<(), CommandError> {
    if slot.is_some() {
        return Err(bad(keyword));
    }
    *slot = Some(value);
    Ok(())
}

fn mail_params(text: &str) -> Result<MailParams, CommandError> {
    let mut params = MailParams::default();
    for param in self::params(text) {
        let (keyword, value) = param?;
        let keyword = keyword.as_str();
        match (keyword, value) {
            // RFC 1870 §3: size-value = 1*20DIGIT.
            ("SIZE", Some(value)) => {
                if value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad(keyword));
                }
                let size = value.parse().unwrap_or(u64::MAX);
                set_once(&mut params.size, size, keyword)?;
            }
            ("BODY", Some(value)) => {
                let body = match value.to_ascii_uppercase().as_str() {
                    "7BIT" => BodyType::SevenBit,
                    "8BITMIME" => BodyType::EightBitMime,
                    "BINARYMIME" => BodyType::BinaryMime,
                    _ => return Err(bad(keyword)),
                };
                set_once(&mut params.body, body, keyword)?;
            }
            // RFC 6531 §3.4: SMTPUTF8 takes no value.
            ("SMTPUTF8", None) => {
                if params.smtputf8 {
                    return Err(bad(keyword));
                }
                params.smtputf8 = true;
            }
            ("RET", Some(value)) => {
                let ret = match value.to_ascii_uppercase().as_str() {
                    "FULL" => Ret::Full,
                    "HDRS" => Ret::Headers,
                    _ => return Err(bad(keyword)),
                };
                set_once(&mut params.ret, ret, keyword)?;
            }
            ("ENVID", Some(value)) => {
                if value.len() > MAX_ENVID {
                    return Err(bad(keyword));
                }
                let envid = xtext::decode(value).map_err(|_| bad(keyword))?;
                set_once(&mut params.envid, envid, keyword)?;
            }
            // RFC 4954 §5: AUTH=<> or AUTH=xtext(addr-spec).
            ("AUTH", Some(value)) => {
                let auth = if value == "<>" {
                    AuthParam::Unknown
                } else {
                    AuthParam::Identity(xtext::decode(value).map_err(|_| bad(keyword))?)
                };
                set_once(&mut params.auth, auth, keyword)?;
            }
            ("SIZE" | "BODY" | "RET" | "ENVID" | "AUTH", None) | ("SMTPUTF8", Some(_)) => {
                return Err(bad(keyword))
            }
            _ => {
                return Err(CommandError::UnknownParameter {
                    keyword: keyword.to_string(),
                })
            }
        }
    }
    Ok(params)
}

fn rcpt_params(text: &str) -> Result<RcptParams, CommandError> {
    let mut params = RcptParams::default();
    for param in self::params(text) {
        let (keyword, value) = param?;
        let keyword = keyword.as_str();
        match (keyword, value) {
            // RFC 3461 §4.1: "NEVER" / 1#( "SUCCESS" / "FAILURE" / "DELAY" ).
            ("NOTIFY", Some(value)) => {
                let mut notify = Notify::NEVER;
                if !value.eq_ignore_ascii_case("NEVER") {
                    for word in value.split(',') {
                        let flag = match word.to_ascii_uppercase().as_str() {
                            "SUCCESS" => &mut notify.success,
                            "FAILURE" => &mut notify.failure,
                            "DELAY" => &mut notify.delay,
                            _ => return Err(bad(keyword)),
                        };
                        if *flag {
                            return Err(bad(keyword));
                        }
                        *flag = true;
                    }
                }
                set_once(&mut params.notify, notify, keyword)?;
            }
            // RFC 3461 §4.2: addr-type ";" xtext.
            ("ORCPT", Some(value)) => {
                if value.len() > MAX_ORCPT {
                    return Err(bad(keyword));
                }
                let (addr_type, address) = value.split_once(';').ok_or_else(|| bad(keyword))?;
                let type_ok = !addr_type.is_empty()
                    && addr_type
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c));
                if !type_ok {
                    return Err(bad(keyword));
                }
                let address = xtext::decode(address).map_err(|_| bad(keyword))?;
                let orcpt = Orcpt {
                    addr_type: addr_type.to_string(),
                    address,
                };
                set_once(&mut params.orcpt, orcpt, keyword)?;
            }
            ("NOTIFY" | "ORCPT", None) => return Err(bad(keyword)),
            _ => {
                return Err(CommandError::UnknownParameter {
                    keyword: keyword.to_string(),
                })
            }
        }
    }
    Ok(params)
}

/// RFC 3030 §2: bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]; chunk-size = 1*DIGIT.
fn bdat(rest: &str) -> Result<Command, CommandError> {
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let size = words.next().ok_or(CommandError::BadBdat)?;
    if size.len() > 20 || !size.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CommandError::BadBdat);
    }
    let size = size.parse().map_err(|_| CommandError::BadBdat)?;
    let last = match words.next() {
        None => false,
        Some(word) if word.eq_ignore_ascii_case("LAST") => true,
        Some(_) => return Err(CommandError::BadBdat),
    };
    if words.next().is_some() {
        return Err(CommandError::BadBdat);
    }
    Ok(Command::Bdat { size, last })
}

/// RFC 4954 §4: "AUTH" SP sasl-mech [SP initial-response]; RFC 4422 §3.1 sasl-mech is 1-20
/// of upper-case letters, digits, `-` and `_`.
fn auth(rest: &str) -> Result<Command, CommandError> {
    let mut words = rest.split(' ').filter(|w| !w.is_empty());
    let mechanism = words
        .next()
        .ok_or(CommandError::Syntax { usage: USAGE_AUTH })?
        .to_ascii_uppercase();
    let mechanism_ok = mechanism.len() <= 20
        && mechanism
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !mechanism_ok {
        return Err(CommandError::Syntax { usage: USAGE_AUTH });
    }
    let initial_response = words.next().map(str::to_string);
    if words.next().is_some() {
        return Err(CommandError::Syntax { usage: USAGE_AUTH });
    }
    Ok(Command::Auth {
        mechanism,
        initial_response,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Mailbox;

    fn check(line: &str, expected: Command) {
        let command = decode(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(command, expected, "{line}");
        // decode → encode → decode agrees.
        assert_eq!(decode(&command.to_bytes()).unwrap(), command, "{line}");
    }

    fn check_error(line: &str, expected: CommandError) {
        assert_eq!(decode(line.as_bytes()), Err(expected), "{line}");
    }

    fn from(text: &str) -> ReversePath {
        ReversePath::parse(text).unwrap()
    }

    fn to(text: &str) -> ForwardPath {
        ForwardPath::parse(text).unwrap()
    }

    #[test]
    fn simple_commands() {
        check("EHLO bar.com\r\n", Command::Ehlo("bar.com".into()));
        check("helo [192.0.2.1]", Command::Helo("[192.0.2.1]".into()));
        check("DATA\r\n", Command::Data);
        check("rset", Command::Rset);
        check("NOOP anything here", Command::Noop);
        check("QUIT ", Command::Quit);
        check("StartTLS", Command::StartTls);
        check("HELP", Command::Help(None));
        check("HELP mail", Command::Help(Some("mail".into())));
        check("VRFY Smith", Command::Vrfy("Smith".into()));
        check(
            "EXPN Example-People",
            Command::Expn("Example-People".into()),
        );
        check(
            "BDAT 86 LAST",
            Command::Bdat {
                size: 86,
                last: true,
            },
        );
        check(
            "bdat 0",
            Command::Bdat {
                size: 0,
                last: false,
            },
        );
        check(
            "AUTH plain dGVzdAB0ZXN0ADEyMzQ=",
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial_response: Some("dGVzdAB0ZXN0ADEyMzQ=".into()),
            },
        );
        check(
            "AUTH LOGIN",
            Command::Auth {
                mechanism: "LOGIN".into(),
                initial_response: None,
            },
        );
    }

    #[test]
    fn mail_and_rcpt() {
        check(
            "MAIL FROM:<Smith@bar.com>",
            Command::Mail {
                from: from("<Smith@bar.com>"),
                params: MailParams::default(),
            },
        );
        check(
            "mail from: <>",
            Command::Mail {
                from: ReversePath::Null,
                params: MailParams::default(),
            },
        );
        check(
            "MAIL FROM:<a@b.c> size=1234 BODY=8bitmime SMTPUTF8 RET=HDRS ENVID=QQ314159 AUTH=e+2Bf@g.h",
            Command::Mail {
                from: from("<a@b.c>"),
                params: MailParams {
                    size: Some(1234),
                    body: Some(BodyType::EightBitMime),
                    smtputf8: true,
                    ret: Some(Ret::Headers),
                    envid: Some("QQ314159".into()),
                    auth: Some(AuthParam::Identity("e+f@g.h".into())),
                },
            },
        );
        check(
            "MAIL FROM:<a@b.c> BODY=BINARYMIME AUTH=<>",
            Command::Mail {
                from: from("<a@b.c>"),
                params: MailParams {
                    body: Some(BodyType::BinaryMime),
                    auth: Some(AuthParam::Unknown),
                    ..MailParams::default()
                },
            },
        );
        check(
            "RCPT TO:<Jones@foo.com>",
            Command::Rcpt {
                to: to("<Jones@foo.com>"),
                params: RcptParams::default(),
            },
        );
        check(
            "RCPT TO:<postmaster>",
            Command::Rcpt {
                to: ForwardPath::Postmaster,
                params: RcptParams::default(),
            },
        );
        // RFC 3461 §4.2 example.
        check(
            "RCPT TO:<Bob@Example.COM> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob@Example.COM",
            Command::Rcpt {
                to: to("<Bob@Example.COM>"),
                params: RcptParams {
                    notify: Some(Notify {
                        success: true,
                        failure: true,
                        delay: false,
                    }),
                    orcpt: Some(Orcpt {
                        addr_type: "rfc822".into(),
                        address: "Bob@Example.COM".into(),
                    }),
                },
            },
        );
        check(
            "RCPT TO:<a@b.c> NOTIFY=never",
            Command::Rcpt {
                to: to("<a@b.c>"),
                params: RcptParams {
                    notify: Some(Notify::NEVER),
                    orcpt: None,
                },
            },
        );
        // A '>' inside a quoted local part does not end the path.
        check(
            "RCPT TO:<\"a> b\"@c.d> NOTIFY=DELAY",
            Command::Rcpt {
                to: ForwardPath::Mailbox(
                    Mailbox::new("a> b", crate::address::Domain::Name("c.d".into())).unwrap(),
                ),
                params: RcptParams {
                    notify: Some(Notify {
                        delay: true,
                        ..Notify::NEVER
                    }),
                    orcpt: None,
                },
            },
        );
    }

    #[test]
    fn errors_and_their_replies() {
        check_error("FOO bar", CommandError::Unrecognized);
        check_error("", CommandError::Unrecognized);
        check_error("DATA now", CommandError::Syntax { usage: "DATA" });
        check_error("EHLO", CommandError::Syntax { usage: USAGE_EHLO });
        check_error(
            "MAIL TO:<a@b.c>",
            CommandError::Syntax { usage: USAGE_MAIL },
        );
        check_error(
            "MAIL FROM:a@b.c",
            CommandError::BadSender(AddressError::MissingBrackets),
        );
        check_error(
            "RCPT TO:<>",
            CommandError::BadRecipient(AddressError::NotAllowed),
        );
        check_error(
            "RCPT TO:<a@b.c>x",
            CommandError::BadRecipient(AddressError::MissingBrackets),
        );
        check_error(
            "MAIL FROM:<a@b.c> FOO=bar",
            CommandError::UnknownParameter {
                keyword: "FOO".into(),
            },
        );
        for bad_param in [
            "SIZE=abc",
            "SIZE",
            "SIZE=1 SIZE=2",
            "BODY=9BIT",
            "SMTPUTF8=yes",
            "RET=ALL",
            "ENVID=a=b",
            "=x",
        ] {
            let line = format!("MAIL FROM:<a@b.c> {bad_param}");
            assert!(
                matches!(
                    decode(line.as_bytes()),
                    Err(CommandError::BadParameter { .. })
                ),
                "{line}"
            );
        }
        for bad_param in [
            "NOTIFY=NEVER,SUCCESS",
            "NOTIFY=SUCCESS,SUCCESS",
            "NOTIFY=",
            "ORCPT=rfc822",
            "ORCPT=;a@b",
        ] {
            let line = format!("RCPT TO:<a@b.c> {bad_param}");
            assert!(
                matches!(
                    decode(line.as_bytes()),
                    Err(CommandError::BadParameter { .. })
                ),
                "{line}"
            );
        }
        check_error("BDAT", CommandError::BadBdat);
        check_error("BDAT x", CommandError::BadBdat);
        check_error("BDAT 1 FIRST", CommandError::BadBdat);
        check_error("BDAT 99999999999999999999999", CommandError::BadBdat);
        check_error("NOOP \r x", CommandError::BadCharacter);
        assert_eq!(decode(b"NOOP \xff"), Err(CommandError::BadUtf8));

        assert_eq!(
            CommandError::Unrecognized.reply().to_string(),
            "500 5.5.2 Error: command not recognized"
        );
        assert_eq!(
            decode(b"MAIL FROM:<a@b.c> X-Y=1")
                .unwrap_err()
                .reply()
                .to_string(),
            "555 5.5.4 Unsupported option: X-Y"
        );
        assert_eq!(
            decode(b"MAIL FROM:<a@>").unwrap_err().reply().to_string(),
            "501 5.1.7 Bad sender address syntax"
        );
    }

    #[test]
    fn line_length_limits() {
        // 512 octets with CRLF is the limit for commands (RFC 5321 §4.5.3.1.4).
        let noop = format!("NOOP {}", "x".repeat(MAX_COMMAND_LINE - 2 - 5));
        assert_eq!(decode(noop.as_bytes()), Ok(Command::Noop));
        let long = format!("{noop}x");
        assert_eq!(decode(long.as_bytes()), Err(CommandError::LineTooLong));
        // AUTH lines may be longer (RFC 4954 §4).
        let auth = format!("AUTH PLAIN {}", "A".repeat(4000));
        assert!(decode(auth.as_bytes()).is_ok());
        let auth = format!("AUTH PLAIN {}", "A".repeat(MAX_AUTH_LINE));
        assert_eq!(decode(auth.as_bytes()), Err(CommandError::LineTooLong));
    }

    #[test]
    fn encoding_cannot_inject_lines() {
        let command = Command::Helo("evil\r\nRCPT TO:<x@y>".into());
        assert_eq!(command.to_bytes(), b"HELO evil  RCPT TO:<x@y>\r\n".to_vec());
        let params = MailParams {
            envid: Some("a b\r\n".into()),
            ..MailParams::default()
        };
        assert_eq!(params.to_string(), " ENVID=a+20b+0D+0A");
    }
}
