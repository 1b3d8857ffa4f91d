//! An error and its causes on one line, for messages a person reads: HTTP clients' own messages ("error
//! sending request") name no cause, which sits further down the chain.

/// `error`, then each cause whose text the line does not already hold, joined by `": "`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = e.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        cause: Option<Box<Layer>>,
    }

    fn layer(text: &'static str, cause: Option<Layer>) -> Layer {
        Layer { text, cause: cause.map(Box::new) }
    }

    #[test]
    fn names_every_cause_once() {
        let refused = layer("connection refused", None);
        let connect = layer("client error (Connect)", Some(refused));
        let top = layer("error sending request", Some(connect));
        assert_eq!(error_chain(&top), "error sending request: client error (Connect): connection refused");
        let repeated = layer("timed out: connection refused", Some(layer("connection refused", None)));
        assert_eq!(error_chain(&repeated), "timed out: connection refused");
    }
}
