//! Prefect's Jinja templates (`call-webhook`'s payload, `send-notification`'s
//! subject and body), rendered with minijinja.
//!
//! Prefect renders them in Jinja's immutable sandbox with chainable undefined
//! values: `{{ event.nothing.deeper }}` renders as nothing rather than failing.
//! minijinja is sandboxed by design (no attribute calls, no I/O); fuel bounds
//! the work a hostile template can ask for, where Prefect counts loops.

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

/// Instructions a render may take: far more than any message needs, and a
/// `{% for %}` over a large range stops here with an error.
const FUEL: u64 = 1_000_000;
/// Bytes a template may have (Prefect's columns are text; ours is bounded by the
/// automation's size as well).
const MAX_TEMPLATE_BYTES: usize = 16 * 1024;

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_fuel(Some(FUEL));
    env
}

/// Refuses a template that does not parse, as Prefect's validators do when an
/// automation is created: `'payload' is not a valid template: ...`.
pub(crate) fn check(source: &str, field: &str) -> Result<(), String> {
    if source.len() > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "'{field}' is not a valid template: longer than {MAX_TEMPLATE_BYTES} bytes"
        ));
    }
    environment()
        .template_from_str(source)
        .map(|_| ())
        .map_err(|e| format!("'{field}' is not a valid template: {e}"))
}

/// Renders a template with this context (a JSON object).
pub(crate) fn render(source: &str, context: &Value) -> Result<String, minijinja::Error> {
    environment().render_str(source, Serde(context))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_with_chainable_undefined_and_refuses_bad_syntax() {
        let ctx = json!({"automation": {"name": "a"}, "event": {"event": "x"}});
        assert_eq!(
            render(
                "{{ automation.name }}: {{ event.event }}{{ event.no.such }}",
                &ctx
            )
            .unwrap(),
            "a: x"
        );
        assert!(check("{{ automation.name", "payload").is_err());
        assert!(check(&"x".repeat(MAX_TEMPLATE_BYTES + 1), "body").is_err());
        // Fuel stops a loop that would run for ever in effect.
        assert!(render(
            "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}",
            &ctx
        )
        .is_err());
    }
}
