//! Routing cost at 10, 1,000 and 10,000 routes: a trie walk should not care how many there are.
//!
//! Run: `cargo bench -p switchyard --bench matcher`

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use switchyard::scope::{Matcher, Pattern, Scope};

/// A table shaped like real ones: BigCommerce-style families with literals, trailing `*`,
/// `{param}` and a few `**`, plus many distinct literal routes.
fn table(n: usize) -> Matcher {
    let shapes =
        ["store/order/*", "store/channel/{channel_id}/cart/*", "store/cart/lineItem/*", "**/created", "order.*"];
    let routes = (0..n)
        .map(|i| {
            let text = match shapes.get(i) {
                Some(s) => s.to_string(),
                None => format!("store/r{}/e{}/updated", i % 97, i),
            };
            Pattern::parse(&text).into_iter().collect()
        })
        .collect();
    Matcher::new(routes)
}

fn matcher(c: &mut Criterion) {
    let mut group = c.benchmark_group("match");
    let scopes = [
        Scope::new("store/order/created"),
        Scope::new("store/channel/1/cart/lineItem/updated"),
        Scope::new("store/product/inventory/updated"),
    ];
    for n in [10, 1_000, 10_000] {
        let m = table(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &m, |b, m| {
            b.iter(|| {
                for s in &scopes {
                    black_box(m.matches(black_box(s)));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, matcher);
criterion_main!(benches);
