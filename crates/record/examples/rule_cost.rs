//! Prints each redaction rule's regex compile time (release build), most costly first.
#![allow(clippy::unwrap_used)]
fn main() {
    let mut costs: Vec<(u128, &str)> = mandate_record::redact::rules()
        .map(|(id, _, p)| {
            let t = std::time::Instant::now();
            for _ in 0..20 {
                regex::bytes::RegexBuilder::new(p)
                    .unicode(false)
                    .build()
                    .unwrap();
            }
            (t.elapsed().as_micros() / 20, id)
        })
        .collect();
    costs.sort_by(|a, b| b.cmp(a));
    for (us, id) in costs {
        println!("{us:>6} µs  {id}");
    }
}
