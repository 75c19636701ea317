//! `/mcp tokens` and `/mcp logout`: what is stored for each MCP server —
//! token type and expiry, never a token.

use super::{Shell, describe_store_error};
use crate::command::McpCommand;
use crate::keys::tokens::{Expiry, TokenError, now_ms};
use crate::output::Output;

fn describe(err: &TokenError) -> String {
    match err {
        TokenError::Store(store) => describe_store_error(store),
        other => other.to_string(),
    }
}

pub async fn execute(shell: &Shell, command: McpCommand, out: &mut Output) {
    match command {
        McpCommand::Tokens => tokens(shell, out).await,
        McpCommand::Logout { server } => match shell.tokens.delete_credentials(&server).await {
            Ok(()) => out.info(format!(
                "Removed the stored credentials of MCP server '{server}'"
            )),
            Err(err) => out.error(describe(&err)),
        },
    }
}

async fn tokens(shell: &Shell, out: &mut Output) {
    let statuses = match shell.tokens.statuses(now_ms()).await {
        Ok(statuses) => statuses,
        Err(err) => return out.error(describe(&err)),
    };
    if statuses.is_empty() {
        return out.info("No MCP OAuth tokens stored.");
    }
    out.info("MCP OAuth tokens:");
    for status in statuses {
        let expiry = match status.expiry {
            Expiry::NoExpiry => "no expiry".to_string(),
            Expiry::Valid { expires_at } => format!("valid until {}", utc(expires_at)),
            Expiry::ExpiringSoon { expires_at } => {
                format!("expires within 5 minutes ({})", utc(expires_at))
            }
            Expiry::Expired { expires_at } => format!("expired at {}", utc(expires_at)),
        };
        let refresh = if status.has_refresh_token {
            ", refreshable"
        } else {
            ""
        };
        out.info(format!(
            "  {}  {}  {expiry}{refresh}",
            status.server_name, status.token_type
        ));
    }
}

/// `YYYY-MM-DD HH:MM UTC` for milliseconds since the epoch.
pub fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc(1_795_881_600_000), "2026-11-28 16:00 UTC");
        assert_eq!(super::utc(951_782_400_000), "2000-02-29 00:00 UTC");
    }
}
