//! Content negotiation (TAXII 2.1 section 1.6.8): which `Accept` and `Content-Type` values we serve.

/// One media range from a header, lower-cased, parameters split off.
struct Range<'a> {
    essence: String,
    params: Vec<(String, &'a str)>,
}

fn parse_range(text: &str) -> Range<'_> {
    let mut parts = text.split(';');
    let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().trim_matches('"')))
        })
        .collect();
    Range { essence, params }
}

fn version_ok(r: &Range<'_>) -> bool {
    r.params
        .iter()
        .all(|(k, v)| k != "version" || v.eq_ignore_ascii_case("2.1"))
}

/// True when a response in `application/taxii+json;version=2.1` satisfies this `Accept` header.
/// A missing header accepts anything.
pub fn accepts_taxii(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return true };
    if accept.trim().is_empty() {
        return true;
    }
    accept.split(',').any(|item| {
        let r = parse_range(item);
        let q_zero = r
            .params
            .iter()
            .any(|(k, v)| k == "q" && v.parse::<f32>().map(|q| q <= 0.0).unwrap_or(false));
        if q_zero {
            return false;
        }
        match r.essence.as_str() {
            "application/taxii+json" => version_ok(&r),
            "application/json" | "application/*" | "*/*" => true,
            _ => false,
        }
    })
}

/// True when a POST body of this `Content-Type` is one we read: the TAXII media type, with or
/// without `version=2.1`.
pub fn is_taxii_content_type(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let r = parse_range(ct);
    r.essence == "application/taxii+json" && version_ok(&r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_values() {
        for ok in [
            "application/taxii+json;version=2.1",
            "application/taxii+json",
            "application/json",
            "application/*",
            "*/*",
            "text/html, application/taxii+json; version=2.1",
        ] {
            assert!(accepts_taxii(Some(ok)), "{ok}");
        }
        for bad in [
            "application/taxii+json;version=2.0",
            "text/html",
            "application/xml",
            "application/json;q=0",
        ] {
            assert!(!accepts_taxii(Some(bad)), "{bad}");
        }
        assert!(accepts_taxii(None));
    }

    #[test]
    fn content_types() {
        assert!(is_taxii_content_type(Some(
            "application/taxii+json;version=2.1"
        )));
        assert!(is_taxii_content_type(Some("application/taxii+json")));
        assert!(!is_taxii_content_type(Some(
            "application/taxii+json;version=2.0"
        )));
        assert!(!is_taxii_content_type(Some("application/json")));
        assert!(!is_taxii_content_type(None));
    }
}
