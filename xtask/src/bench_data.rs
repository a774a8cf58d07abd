//! The benchmarks' rows: about 1 KB each of what an order table holds
//! (an id, an amount, a time, a hash, and order notes), so a compressor
//! meets text and numbers as in a real table, not random bytes and not one
//! string repeated (issue 20, target 3). The notes are 50 short pieces of
//! [`CORPUS`], each from its own pseudo-random offset: long pieces would
//! let a compressor fold a row into a few back-references (5.9 % of the
//! bytes with five 180-character pieces), far more than real tables allow.

/// The text the notes are cut from.
pub const CORPUS: &str = "Order received from the web shop and checked against stock in the north warehouse. \
The customer asked for delivery before the weekend; the carrier confirmed a pickup window between nine and eleven. \
Payment was authorised by card, captured after packing, and the invoice number was sent by mail with the tracking link. \
Two items were back-ordered, so the shipment was split and the second parcel will leave on Tuesday. \
A note from support says the previous parcel arrived damaged; a replacement was approved without a return. \
Loyalty points were added to the account, and the discount code from the spring campaign was applied once. \
The address was corrected by the customer after the label was printed, which delayed the handover by one day. \
Stock levels fell below the reorder threshold, and the purchasing team raised an order with the usual supplier. \
Quality control sampled three units from the batch; all passed the weight and seal checks. \
The returns desk logged a refund request for one unit, citing the wrong colour, pending inspection of the item. \
Customs paperwork for the export parcel lists the tariff code, the declared value in euros and the country of origin. \
Night shift counted the aisles twice; the difference of four units was traced to a mislabelled shelf. \
The courier reported a failed delivery attempt, left a card, and will try again tomorrow before noon. \
Monthly statements go out on the first working day; overdue accounts receive a reminder after fourteen days. \
The product page was updated with new photos, a size chart and answers to the most frequent questions. \
Warehouse temperature stayed within limits all week, and the log was signed off by the duty manager. \
A bulk order from a school needs forty units in two sizes, delivered to the gym entrance at the back. \
The subscription renews every quarter unless cancelled; the customer changed the plan to monthly billing. ";

const SNIPPET: usize = 18;
const SNIPPETS: usize = 50;

/// The statement that sets `@corpus` for a session; run it before
/// [`row_sql`]'s expression.
pub fn set_corpus() -> String {
    format!("SET @corpus = '{CORPUS}'")
}

/// An SQL expression of about 1 KB (at most 1000 characters) for the row
/// numbered by the SQL expression `n` (e.g. `seq` of a sequence table).
pub fn row_sql(n: &str) -> String {
    let span = CORPUS.len() - SNIPPET;
    let notes: Vec<String> = (0..SNIPPETS)
        .map(|i| {
            format!(
                "SUBSTRING(@corpus, 1 + CRC32({n} * {} + {i}) % {span}, {SNIPPET})",
                2 * i + 1
            )
        })
        .collect();
    format!(
        "LEFT(CONCAT_WS('|', {n}, ROUND(RAND({n}) * 10000, 2), \
         TIMESTAMP('2026-01-01') + INTERVAL ({n} * 37) SECOND, MD5({n}), {}), 1000)",
        notes.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_needs_no_quoting_and_covers_every_snippet() {
        assert!(!CORPUS.contains('\'') && !CORPUS.contains('\\'));
        assert!(CORPUS.len() > 2 * SNIPPET);
        let sql = row_sql("seq");
        assert!(sql.starts_with("LEFT(CONCAT_WS('|', seq, "), "{sql}");
        assert_eq!(sql.matches("SUBSTRING(@corpus").count(), SNIPPETS);
        assert!(
            sql.contains(&format!("% {}, {SNIPPET})", CORPUS.len() - SNIPPET)),
            "{sql}"
        );
    }
}
