//! Path templates. Our table, the simulator's router and Altinn's documents name the same path
//! parameters differently (`{party}` here, `{instanceOwnerPartyId}` there), so templates are
//! compared with every parameter name replaced by `{}`.

/// `template` with every `{name}` segment written `{}`.
pub fn normalise(template: &str) -> String {
    template
        .split('/')
        .map(|segment| if is_parameter(segment) { "{}" } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

/// True when `segment` is a whole-segment parameter, `{name}`.
pub fn is_parameter(segment: &str) -> bool {
    segment.len() >= 2 && segment.starts_with('{') && segment.ends_with('}')
}

/// How well `template` matches the concrete `path`: `None` when it does not; otherwise the
/// number of literal segments, so the most specific of several matching templates wins.
pub fn match_score(template: &str, path: &str) -> Option<usize> {
    let template: Vec<&str> = template.trim_end_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    if template.len() != path.len() {
        return None;
    }
    let mut literals = 0;
    for (expected, actual) in template.iter().zip(&path) {
        if is_parameter(expected) {
            if actual.is_empty() {
                return None;
            }
        } else if expected == actual {
            literals += 1;
        } else {
            return None;
        }
    }
    Some(literals)
}

/// The names of the query parameters in a raw query string (`a=1&b=2&a=3` → `a`, `b`, `a`),
/// percent-decoded.
pub fn query_names(query: Option<&str>) -> Vec<String> {
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return Vec::new();
    };
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(name, _)| name.into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compare_without_parameter_names() {
        assert_eq!(
            normalise("/instances/{party}/{guid}/data/{data}"),
            normalise("/instances/{instanceOwnerPartyId}/{instanceGuid}/data/{dataGuid}")
        );
        assert_ne!(normalise("/instances/{a}/{b}"), normalise("/instances/{a}"));
    }

    #[test]
    fn the_most_specific_template_wins() {
        let path = "/ttd/app/instances/1/abc/data/type/receipt";
        assert_eq!(
            match_score("/{org}/{app}/instances/{p}/{g}/data/type/{dataType}", path),
            Some(4)
        );
        assert_eq!(
            match_score("/{org}/{app}/instances/{p}/{g}/data/{dataGuid}/tags", path),
            None
        );
        assert_eq!(match_score("/{org}/{app}/instances/{p}/{g}", path), None);
        assert_eq!(match_score("/instances/{p}", "/instances/"), None);
    }

    #[test]
    fn query_names_are_decoded() {
        assert_eq!(
            query_names(Some("org=ttd&process.isComplete=true&app%49d=x")),
            ["org", "process.isComplete", "appId"]
        );
        assert!(query_names(None).is_empty());
        assert!(query_names(Some("")).is_empty());
    }
}
