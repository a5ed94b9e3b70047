//! Multi-row statements: one `insert … values (…), (…)` per table and batch instead of one
//! round trip per row.
//!
//! Placeholders: PostgreSQL needs `$n`. SQLite accepts `$n` too, but treats each as a *named*
//! parameter and looks names up linearly, which makes a statement with thousands of parameters
//! quadratic; it gets anonymous `?` instead (bound in order, the same order as `$1…$n`).

use anyhow::Context;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::Backend;

/// One bound value.
#[derive(Debug, Clone)]
pub enum Val<'a> {
    /// Integer.
    I64(i64),
    /// Text.
    Text(&'a str),
    /// Nullable text.
    OptText(Option<&'a str>),
    /// Bytes.
    Bytes(&'a [u8]),
}

// Both databases accept far more; staying well below keeps statements small.
const MAX_PARAMS: usize = 8_000;

/// Runs `head VALUES (…),(…) tail` for `rows` (each `cols` values), split into statements of at
/// most `MAX_PARAMS` parameters, and returns every row the statements return.
pub async fn insert_rows(
    tx: &mut Transaction<'_, Any>,
    backend: Backend,
    head: &str,
    cols: usize,
    rows: &[Vec<Val<'_>>],
    tail: &str,
) -> anyhow::Result<Vec<AnyRow>> {
    let mut out = Vec::new();
    for chunk in rows.chunks(rows_per_statement(cols)) {
        let sql = values_statement(backend, head, chunk.len(), cols, tail);
        let args = arguments(chunk.len() * cols, chunk.iter().flatten().cloned())?;
        let mut rows = sqlx::query_with(&sql, args)
            .fetch_all(&mut **tx)
            .await
            .with_context(|| format!("running {head}"))?;
        out.append(&mut rows);
    }
    Ok(out)
}

/// Rows of `cols` values per statement, within [`MAX_PARAMS`].
fn rows_per_statement(cols: usize) -> usize {
    (MAX_PARAMS / cols).max(1)
}

/// `head values (…),(…) tail` for `rows` rows of `cols` values.
fn values_statement(backend: Backend, head: &str, rows: usize, cols: usize, tail: &str) -> String {
    format!("{head} values {} {tail}", placeholders(backend, rows, cols))
}

/// `values` (`n` of them) as a statement's arguments, in order. Sized once: an import's batch
/// binds some 100,000 values, and a list grown by doubling reallocates (and copies) a dozen
/// times, the last few times into fresh memory the kernel must zero first.
fn arguments<'q>(
    n: usize,
    values: impl IntoIterator<Item = Val<'q>>,
) -> anyhow::Result<sqlx::any::AnyArguments<'q>> {
    use sqlx::Arguments;
    let mut args = sqlx::any::AnyArguments::default();
    args.reserve(n, 0);
    for v in values {
        match v {
            Val::I64(i) => args.add(i),
            Val::Text(s) => args.add(s),
            Val::OptText(s) => args.add(s),
            Val::Bytes(b) => args.add(b),
        }
        .map_err(|e| anyhow::anyhow!("binding a value: {e}"))?;
    }
    Ok(args)
}

/// A transaction's inserts, sent to SQLite as one script: sqlx runs each SQLite connection on
/// a thread of its own and hands every statement there and its result back, and on a busy
/// machine each hand-off waits for a core both ways (0.2 ms a statement under the receiver's
/// load, more than most of the statements take). A batch of reports is written by about a
/// dozen statements (reports, policies, failure details, nine rollups); queued here, they make
/// one hand-off. Only statements that return nothing are queued (the SQLite writer numbers its
/// own rows); anything else, and every statement on PostgreSQL (whose extended protocol takes
/// one statement at a time), runs at once, after what was queued before it.
///
/// The queued values borrow what they came from (the batch being written): sqlx copies them
/// once anyway, to send them to the connection's thread.
pub struct Script<'v> {
    backend: Backend,
    sql: String,
    values: Vec<Val<'v>>,
}

impl<'v> Script<'v> {
    /// Queues on SQLite, runs at once on PostgreSQL.
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            sql: String::new(),
            values: Vec::new(),
        }
    }

    /// [`insert_rows`], queued when nothing is to come back (`tail` without `returning`).
    pub async fn insert_rows(
        &mut self,
        tx: &mut Transaction<'_, Any>,
        head: &str,
        cols: usize,
        rows: &[Vec<Val<'v>>],
        tail: &str,
    ) -> anyhow::Result<Vec<AnyRow>> {
        if self.backend != Backend::Sqlite || tail.contains("returning") {
            self.flush(tx).await?;
            return insert_rows(tx, self.backend, head, cols, rows, tail).await;
        }
        let per_statement = rows_per_statement(cols);
        for chunk in rows.chunks(per_statement) {
            let padded = padded_rows(chunk, per_statement);
            if padded == chunk.len() {
                self.sql.push_str(&values_statement(
                    self.backend,
                    head,
                    chunk.len(),
                    cols,
                    tail,
                ));
            } else {
                // Rows of nulls up to a power of two, dropped by the `where`: the script's
                // text then depends on the group's size only by powers of two, and SQLite
                // reuses its compiled statements instead of parsing every group's anew.
                self.sql.push_str(&format!(
                    "{head} select * from (values {}) where column1 is not null {tail}",
                    placeholders(self.backend, padded, cols)
                ));
            }
            self.sql.push_str(";\n");
            self.values.reserve(padded * cols);
            self.values.extend(chunk.iter().flatten().cloned());
            self.values.extend(std::iter::repeat_n(
                Val::OptText(None),
                (padded - chunk.len()) * cols,
            ));
        }
        Ok(Vec::new())
    }

    /// Runs what was queued, in order.
    pub async fn flush(&mut self, tx: &mut Transaction<'_, Any>) -> anyhow::Result<()> {
        if self.sql.is_empty() {
            return Ok(());
        }
        let sql = std::mem::take(&mut self.sql);
        let values = std::mem::take(&mut self.values);
        // Kept prepared like any statement: batches of the same size (an import's) reuse it.
        sqlx::query_with(&sql, arguments(values.len(), values)?)
            .execute(&mut **tx)
            .await
            .context("writing the batch")?;
        Ok(())
    }
}

/// How many rows a queued statement of `chunk` binds: the next power of two (within
/// `per_statement`), so that a script's text takes few forms whatever the group's size. Rows
/// whose first value is null are not padded (the padding is told apart by that null).
fn padded_rows(chunk: &[Vec<Val<'_>>], per_statement: usize) -> usize {
    let first_is_null = |row: &Vec<Val<'_>>| matches!(row.first(), None | Some(Val::OptText(None)));
    let padded = chunk.len().next_power_of_two();
    if padded > per_statement || chunk.iter().any(first_is_null) {
        chunk.len()
    } else {
        padded
    }
}

/// One placeholder: `$n` (PostgreSQL) or `?` (SQLite).
fn push_placeholder(s: &mut String, backend: Backend, n: usize) {
    match backend {
        Backend::Postgres => {
            s.push('$');
            s.push_str(&n.to_string());
        }
        Backend::Sqlite => s.push('?'),
    }
}

/// `($1,$2),($3,$4)` for 2 rows of 2 columns.
pub fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            push_placeholder(&mut s, backend, r * cols + c + 1);
        }
        s.push(')');
    }
    s
}

/// `$from,…,$(from+n-1)` for an `in (…)` list.
pub fn list(backend: Backend, from: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 6);
    for i in from..from + n {
        if i > from {
            s.push(',');
        }
        push_placeholder(&mut s, backend, i);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(
            placeholders(Backend::Postgres, 2, 3),
            "($1,$2,$3),($4,$5,$6)"
        );
        assert_eq!(list(Backend::Postgres, 3, 2), "$3,$4");
        assert_eq!(placeholders(Backend::Sqlite, 2, 2), "(?,?),(?,?)");
    }

    /// What a script writes on SQLite reads back the same: text of every kind (a NUL
    /// included), bytes, nulls, integers at both ends, an upsert, and two tables queued in
    /// turn (their parameters bound in the script's order).
    #[tokio::test]
    async fn a_script_writes_every_value_as_given() -> anyhow::Result<()> {
        use sqlx::Row as _;
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await?;
        sqlx::query(
            "create table t (id integer primary key, a text, b blob not null, n integer not null);
             create table u (k text primary key, n integer not null)",
        )
        .execute(&pool)
        .await?;
        let texts = [
            "plain",
            "quote \" backslash \\ slash / tab \t newline \n bell \u{7} del \u{7f}",
            "ünïcödé, 中文, emoji 🦀, a lone combining mark \u{301}, line separator \u{2028}",
            "",
            "looks like json: [1, {\"a\": null}]",
        ];
        let bytes: Vec<u8> = (0..=255).collect();
        let nul = "before\0after";
        let mut rows: Vec<Vec<Val>> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                vec![
                    Val::I64(i as i64 + 1),
                    Val::OptText(Some(t)),
                    Val::Bytes(if i == 0 { &[] } else { &bytes }),
                    Val::I64(if i % 2 == 0 { i64::MAX } else { i64::MIN }),
                ]
            })
            .collect();
        rows.push(vec![
            Val::I64(99),
            Val::OptText(None),
            Val::Bytes(b"x"),
            Val::I64(0),
        ]);
        let with_nul = vec![vec![
            Val::I64(100),
            Val::OptText(Some(nul)),
            Val::Bytes(b"\0"),
            Val::I64(-1),
        ]];
        let counts = |n: i64| {
            vec![
                vec![Val::Text("k"), Val::I64(n)],
                vec![Val::Text("l"), Val::I64(1)],
            ]
        };
        // Three rows: padded to four with a row of nulls, which must not be stored.
        let (first, mut second) = (counts(2), counts(3));
        second.push(vec![Val::Text("m"), Val::I64(7)]);
        let mut tx = pool.begin().await?;
        let mut script = Script::new(Backend::Sqlite);
        let upsert = "on conflict (k) do update set n = u.n + excluded.n";
        script
            .insert_rows(&mut tx, "insert into u (k, n)", 2, &first, upsert)
            .await?;
        script
            .insert_rows(&mut tx, "insert into t (id, a, b, n)", 4, &with_nul, "")
            .await?;
        script
            .insert_rows(&mut tx, "insert into t (id, a, b, n)", 4, &rows, "")
            .await?;
        script
            .insert_rows(&mut tx, "insert into u (k, n)", 2, &second, upsert)
            .await?;
        script
            .insert_rows(&mut tx, "insert into u (k, n)", 2, &[], upsert)
            .await?;
        script.flush(&mut tx).await?;
        tx.commit().await?;

        let stored = sqlx::query("select id, a, b, n, typeof(a), typeof(n) from t order by id")
            .fetch_all(&pool)
            .await?;
        assert_eq!(stored.len(), texts.len() + 2);
        for (i, t) in texts.iter().enumerate() {
            let r = &stored[i];
            assert_eq!(r.try_get::<i64, _>(0)?, i as i64 + 1);
            assert_eq!(r.try_get::<String, _>(1)?, *t);
            assert_eq!(r.try_get::<String, _>(4)?, "text");
            let want: &[u8] = if i == 0 { &[] } else { &bytes };
            assert_eq!(r.try_get::<Vec<u8>, _>(2)?, want);
            assert_eq!(r.try_get::<String, _>(5)?, "integer");
            assert_eq!(
                r.try_get::<i64, _>(3)?,
                if i % 2 == 0 { i64::MAX } else { i64::MIN }
            );
        }
        let none = &stored[texts.len()];
        assert_eq!(none.try_get::<Option<String>, _>(1)?, None);
        assert_eq!(none.try_get::<Vec<u8>, _>(2)?, b"x");
        let r = &stored[texts.len() + 1];
        assert_eq!(r.try_get::<String, _>(1)?, nul);
        assert_eq!(r.try_get::<Vec<u8>, _>(2)?, b"\0");
        let totals: Vec<(String, i64)> = sqlx::query_as("select k, n from u order by k")
            .fetch_all(&pool)
            .await?;
        assert_eq!(
            totals,
            [
                ("k".to_owned(), 5),
                ("l".to_owned(), 2),
                ("m".to_owned(), 7)
            ]
        );
        Ok(())
    }

    /// A queued statement binds a power of two of rows, so that a script takes few forms;
    /// rows whose first value is null, and chunks already at the statement's limit, are not
    /// padded.
    #[test]
    fn queued_rows_are_padded_to_a_power_of_two() {
        let row = |first: Val<'static>| vec![first, Val::I64(1)];
        let rows = |n: usize| (0..n).map(|i| row(Val::I64(i as i64))).collect::<Vec<_>>();
        assert_eq!(padded_rows(&rows(1), 4000), 1);
        assert_eq!(padded_rows(&rows(3), 4000), 4);
        assert_eq!(padded_rows(&rows(17), 4000), 32);
        assert_eq!(padded_rows(&rows(3000), 4000), 3000);
        let mut with_null = rows(3);
        with_null.push(row(Val::OptText(None)));
        with_null.push(row(Val::I64(9)));
        assert_eq!(padded_rows(&with_null, 4000), 5);
    }
}
