//! What a provider call costs: the Provider's own `spec.pricing` when it sets one, else a built-in
//! table of list prices for well-known models (PromptKit, which Omnia's runtime uses, has such a
//! table per provider too).

use omnia_api::Pricing;

/// USD per 1000 tokens of one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rates {
    /// Prompt tokens not read from the cache.
    pub input_per_1k: f64,
    /// Completion tokens.
    pub output_per_1k: f64,
    /// Prompt tokens read from the provider's prompt cache.
    pub cached_per_1k: f64,
}

impl Rates {
    /// What a call costs in USD. `cached_tokens` are the part of `input_tokens` read from the
    /// cache: `input_tokens - cached_tokens` are billed at the input rate, `cached_tokens` at the
    /// cached rate (more cached than input tokens counts as all cached).
    pub fn cost(&self, input_tokens: u32, output_tokens: u32, cached_tokens: u32) -> f64 {
        let cached = cached_tokens.min(input_tokens);
        let fresh = input_tokens - cached;
        (f64::from(fresh) * self.input_per_1k
            + f64::from(cached) * self.cached_per_1k
            + f64::from(output_tokens) * self.output_per_1k)
            / 1000.0
    }
}

/// The rates of `model`: `configured` when it prices both input and output (> 0, as Omnia
/// decides), with its cached rate or, without one, half the input rate (PromptKit's default);
/// else the built-in table's entry with the longest prefix of `model`; else `None` (unknown
/// model, no configured price: the call is counted at no cost).
pub fn rates(configured: Pricing, model: &str) -> Option<Rates> {
    if configured.input_per_1k > 0.0 && configured.output_per_1k > 0.0 {
        return Some(Rates {
            input_per_1k: configured.input_per_1k,
            output_per_1k: configured.output_per_1k,
            cached_per_1k: configured
                .cached_per_1k
                .unwrap_or(configured.input_per_1k * 0.5),
        });
    }
    TABLE
        .iter()
        .filter(|price| model.starts_with(price.prefix))
        .max_by_key(|price| price.prefix.len())
        .map(|price| Rates {
            input_per_1k: price.input,
            output_per_1k: price.output,
            cached_per_1k: price.cached,
        })
}

/// One row of [`TABLE`]: USD per 1000 tokens of every model whose name starts with `prefix`.
#[derive(Debug, Clone, Copy)]
struct Price {
    prefix: &'static str,
    input: f64,
    output: f64,
    cached: f64,
}

const fn price(prefix: &'static str, input: f64, output: f64, cached: f64) -> Price {
    Price {
        prefix,
        input,
        output,
        cached,
    }
}

/// Built-in list prices, USD per 1000 tokens (the providers publish them per million: divide by
/// 1000), as published by OpenAI, Anthropic and Google, taken 2025-11. These are standard-tier
/// list prices for short prompts: no batch discount, no long-context surcharge (Gemini Pro above
/// 200K prompt tokens, Claude Sonnet's 1M context), no cache-write premium. They go stale: update
/// them by editing this table; a Provider's `spec.pricing` overrides it.
///
/// Matched by the longest prefix of the model name, so dated snapshots
/// (`gpt-4o-mini-2024-07-18`) and versions (`claude-sonnet-4-5-20250929`) find their family, and a
/// longer, more specific row (`gpt-4o-mini`) beats a shorter one (`gpt-4o`).
const TABLE: &[Price] = &[
    // OpenAI. Cached input is the published cached-input price; models without prompt caching
    // take half the input rate, as PromptKit's table does for them.
    price("gpt-5", 0.001_25, 0.01, 0.000_125),
    price("gpt-5-mini", 0.000_25, 0.002, 0.000_025),
    price("gpt-5-nano", 0.000_05, 0.000_4, 0.000_005),
    price("gpt-4.1", 0.002, 0.008, 0.000_5),
    price("gpt-4.1-mini", 0.000_4, 0.001_6, 0.000_1),
    price("gpt-4.1-nano", 0.000_1, 0.000_4, 0.000_025),
    price("gpt-4o", 0.002_5, 0.01, 0.001_25),
    // The first gpt-4o snapshot kept its launch price.
    price("gpt-4o-2024-05-13", 0.005, 0.015, 0.002_5),
    price("gpt-4o-mini", 0.000_15, 0.000_6, 0.000_075),
    price("o1", 0.015, 0.06, 0.007_5),
    price("o1-mini", 0.001_1, 0.004_4, 0.000_55),
    price("o3", 0.002, 0.008, 0.000_5),
    price("o3-mini", 0.001_1, 0.004_4, 0.000_55),
    price("o4-mini", 0.001_1, 0.004_4, 0.000_275),
    price("gpt-4", 0.03, 0.06, 0.015),
    price("gpt-4-turbo", 0.01, 0.03, 0.005),
    price("gpt-3.5-turbo", 0.000_5, 0.001_5, 0.000_25),
    // Anthropic. Cached input is the cache-read price (a tenth of input).
    price("claude-opus-4", 0.015, 0.075, 0.001_5),
    price("claude-opus-4-5", 0.005, 0.025, 0.000_5),
    price("claude-sonnet-4", 0.003, 0.015, 0.000_3),
    price("claude-haiku-4-5", 0.001, 0.005, 0.000_1),
    price("claude-3-7-sonnet", 0.003, 0.015, 0.000_3),
    price("claude-3-5-sonnet", 0.003, 0.015, 0.000_3),
    price("claude-3-5-haiku", 0.000_8, 0.004, 0.000_08),
    price("claude-3-opus", 0.015, 0.075, 0.001_5),
    price("claude-3-haiku", 0.000_25, 0.001_25, 0.000_03),
    // Google Gemini (text input, prompts up to 200K tokens). Cached input is the context-cache
    // price.
    price("gemini-2.5-pro", 0.001_25, 0.01, 0.000_125),
    price("gemini-2.5-flash", 0.000_3, 0.002_5, 0.000_03),
    price("gemini-2.5-flash-lite", 0.000_1, 0.000_4, 0.000_01),
    price("gemini-2.0-flash", 0.000_1, 0.000_4, 0.000_025),
    price("gemini-2.0-flash-lite", 0.000_075, 0.000_3, 0.000_037_5),
    price("gemini-1.5-pro", 0.001_25, 0.005, 0.000_312_5),
    price("gemini-1.5-flash", 0.000_075, 0.000_3, 0.000_018_75),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn table(model: &str) -> Option<Rates> {
        rates(Pricing::default(), model)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn the_longest_prefix_wins() {
        let mini = table("gpt-4o-mini-2024-07-18").unwrap();
        assert_eq!(mini.input_per_1k, 0.000_15);
        assert_eq!(table("gpt-4o-2024-08-06").unwrap().input_per_1k, 0.002_5);
        assert_eq!(table("gpt-4o-2024-05-13").unwrap().input_per_1k, 0.005);
        assert_eq!(table("gpt-4-0613").unwrap().input_per_1k, 0.03);
        assert_eq!(table("gpt-4-turbo-2024-04-09").unwrap().input_per_1k, 0.01);
        assert_eq!(table("gpt-4.1-nano").unwrap().input_per_1k, 0.000_1);
        assert_eq!(table("o3-mini-2025-01-31").unwrap().output_per_1k, 0.004_4);
        assert_eq!(
            table("claude-opus-4-1-20250805").unwrap().input_per_1k,
            0.015
        );
        assert_eq!(
            table("claude-opus-4-5-20251101").unwrap().input_per_1k,
            0.005
        );
        assert_eq!(table("claude-sonnet-4-5").unwrap().output_per_1k, 0.015);
        assert_eq!(
            table("gemini-2.5-flash-lite").unwrap().input_per_1k,
            0.000_1
        );
        assert_eq!(
            table("gemini-2.5-flash-preview-05-20")
                .unwrap()
                .input_per_1k,
            0.000_3
        );
    }

    #[test]
    fn every_row_is_reachable_and_sane() {
        for row in TABLE {
            let found = table(row.prefix).unwrap();
            assert_eq!(found.input_per_1k, row.input, "{}", row.prefix);
            assert!(row.input > 0.0 && row.output >= row.input, "{}", row.prefix);
            assert!(row.cached > 0.0 && row.cached < row.input, "{}", row.prefix);
        }
    }

    #[test]
    fn configured_pricing_wins_over_the_table() {
        let configured = Pricing {
            input_per_1k: 0.1,
            output_per_1k: 0.2,
            cached_per_1k: Some(0.01),
        };
        assert_eq!(
            rates(configured, "gpt-4o"),
            Some(Rates {
                input_per_1k: 0.1,
                output_per_1k: 0.2,
                cached_per_1k: 0.01,
            })
        );
        // A model no table knows is priced too.
        assert_eq!(
            rates(configured, "my-local-llama").unwrap().input_per_1k,
            0.1
        );
    }

    #[test]
    fn configured_cached_rate_defaults_to_half_the_input_rate() {
        let configured = Pricing {
            input_per_1k: 0.1,
            output_per_1k: 0.2,
            cached_per_1k: None,
        };
        assert!(close(
            rates(configured, "gpt-4o").unwrap().cached_per_1k,
            0.05
        ));
    }

    #[test]
    fn pricing_that_misses_input_or_output_falls_back_to_the_table() {
        for (input, output) in [(0.1, 0.0), (0.0, 0.2), (0.0, 0.0), (-1.0, 0.2)] {
            let configured = Pricing {
                input_per_1k: input,
                output_per_1k: output,
                cached_per_1k: Some(0.5),
            };
            assert_eq!(rates(configured, "gpt-4o"), table("gpt-4o"));
            assert_eq!(rates(configured, "unknown-model"), None);
        }
    }

    #[test]
    fn unknown_models_have_no_rates() {
        assert_eq!(table("llama3.1:8b"), None);
        assert_eq!(table(""), None);
        // A prefix must match from the start.
        assert_eq!(table("my-gpt-4o"), None);
    }

    #[test]
    fn cost_bills_cached_tokens_at_the_cached_rate() {
        let rates = Rates {
            input_per_1k: 0.002,
            output_per_1k: 0.008,
            cached_per_1k: 0.000_5,
        };
        // 56 fresh * 0.002 + 64 cached * 0.0005 + 18 out * 0.008, per 1000.
        let expected = (56.0 * 0.002 + 64.0 * 0.000_5 + 18.0 * 0.008) / 1000.0;
        assert!(close(rates.cost(120, 18, 64), expected));
        assert!(close(rates.cost(1000, 0, 0), 0.002));
        assert!(close(rates.cost(0, 1000, 0), 0.008));
        assert_eq!(rates.cost(0, 0, 0), 0.0);
        // More cached than input: all input is cached, none billed twice.
        assert!(close(rates.cost(100, 0, 500), rates.cost(100, 0, 100)));
        assert!(close(rates.cost(u32::MAX, u32::MAX, 0), {
            let max = f64::from(u32::MAX);
            (max * 0.002 + max * 0.008) / 1000.0
        }));
    }
}
