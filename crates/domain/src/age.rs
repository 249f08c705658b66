//! Ages as kubectl shows them (apimachinery `duration.HumanDuration`): `45s`, `5m30s`, `3h`, `2d4h`, `3y`.

/// The human form of an age of `seconds`: two units while the larger one is small, one unit after; `0s` for
/// a clock skew of one second, `<invalid>` for a larger one.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_owned();
    }
    if seconds < 0 {
        return "0s".to_owned();
    }
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        return with_rest(minutes, "m", seconds % 60, "s");
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        return with_rest(hours, "h", minutes % 60, "m");
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    let days = hours / 24;
    if days < 8 {
        return with_rest(days, "d", hours % 24, "h");
    }
    if days < 365 * 2 {
        return format!("{days}d");
    }
    let years = days / 365;
    if years < 8 {
        return with_rest(years, "y", days % 365, "d");
    }
    format!("{years}y")
}

/// `5m` or `5m30s`: the smaller unit only when it is not zero.
fn with_rest(value: i64, unit: &str, rest: i64, rest_unit: &str) -> String {
    if rest == 0 {
        format!("{value}{unit}")
    } else {
        format!("{value}{unit}{rest}{rest_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn matches_kubectl_at_every_boundary() {
        const M: i64 = 60;
        const H: i64 = 60 * M;
        const D: i64 = 24 * H;
        const Y: i64 = 365 * D;
        let cases = [
            (-2, "<invalid>"),
            (-1, "0s"),
            (0, "0s"),
            (119, "119s"),
            (2 * M, "2m"),
            (5 * M + 30, "5m30s"),
            (9 * M + 59, "9m59s"),
            (10 * M + 30, "10m"),
            (3 * H - 1, "179m"),
            (3 * H, "3h"),
            (7 * H + 59 * M, "7h59m"),
            (8 * H + 30 * M, "8h"),
            (47 * H + 59 * M, "47h"),
            (2 * D, "2d"),
            (3 * D + 5 * H, "3d5h"),
            (8 * D + 5 * H, "8d"),
            (2 * Y - 1, "729d"),
            (2 * Y, "2y"),
            (3 * Y + 10 * D, "3y10d"),
            (8 * Y + 10 * D, "8y"),
        ];
        for (seconds, expected) in cases {
            assert_eq!(human_duration(seconds), expected, "{seconds}s");
        }
    }
}
