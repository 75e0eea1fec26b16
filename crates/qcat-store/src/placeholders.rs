//! `$N` placeholders for statements whose length depends on the data: an `IN (…)` list, a
//! multi-row `VALUES`. Keep such statements to a few hundred parameters: SQLite finds a
//! `$N` by walking the statement's names, so binding one huge statement takes quadratic
//! time.

/// `count` parameters from `$first`: `$2, $3, $4` — the inside of an `IN (…)` list.
pub fn list(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `rows` tuples of `columns` parameters from `$first`: `($1, $2), ($3, $4)` — the rows of
/// a multi-row `VALUES`.
pub fn rows(first: usize, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| format!("({})", list(first + row * columns, columns)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::{list, rows};

    #[test]
    fn numbers_run_on_across_rows_from_the_first() {
        assert_eq!(list(2, 3), "$2, $3, $4");
        assert_eq!(rows(1, 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(rows(3, 1, 3), "($3, $4, $5)");
        assert_eq!(list(1, 0), "", "no parameters, nothing");
    }
}
