//! A PostgreSQL schema of its own per test, in the database `SWITCHYARD_TEST_POSTGRES_URL`
//! names; tests that need PostgreSQL skip (saying so) when it is not set.

/// A schema of its own in the test database (`SWITCHYARD_TEST_POSTGRES_URL`), so tests running
/// at once do not meet; dropped with the guard.
pub struct TestSchema {
    base: String,
    name: String,
}

impl TestSchema {
    /// `None`, said on stderr, when `SWITCHYARD_TEST_POSTGRES_URL` is not set.
    pub fn create() -> Option<Self> {
        let Ok(base) = std::env::var("SWITCHYARD_TEST_POSTGRES_URL") else {
            eprintln!("skipped: SWITCHYARD_TEST_POSTGRES_URL is not set");
            return None;
        };
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let schema = Self { base, name: format!("sy_test_e2e_{}_{nanos}", std::process::id()) };
        schema.run(&format!("CREATE SCHEMA {}", schema.name));
        Some(schema)
    }

    /// The `[storage]` table of a routes.toml on this schema.
    pub fn storage(&self) -> String {
        format!("[storage]\nurl = \"{}\"", self.url())
    }

    /// The test database's url with this schema first on the search path.
    pub fn url(&self) -> String {
        let joiner = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{joiner}options=-csearch_path%3D{}", self.base, self.name)
    }

    /// The first column of every row `sql` returns, as text (`::text` it in the query), read in
    /// this schema on a thread of its own.
    pub fn column(&self, sql: &str) -> Vec<String> {
        let (url, owned) = (self.url(), sql.to_string());
        let read = std::thread::spawn(move || -> Result<Vec<String>, postgres::Error> {
            let rows = postgres::Client::connect(&url, postgres::NoTls)?.query(&owned, &[])?;
            rows.iter().map(|r| r.try_get::<_, String>(0)).collect()
        });
        match read.join() {
            Ok(Ok(values)) => values,
            Ok(Err(e)) => panic!("{sql}: {e}"),
            Err(_) => panic!("{sql}: the thread panicked"),
        }
    }

    /// The number `sql` (`SELECT COUNT(*)::text …`) answers.
    pub fn count(&self, sql: &str) -> u64 {
        self.column(sql).first().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{sql}: no count"))
    }

    /// Runs `sql` on a thread of its own (the sync client must not run inside tokio).
    pub fn run(&self, sql: &str) {
        let (base, owned) = (self.base.clone(), sql.to_string());
        let done = std::thread::spawn(move || postgres::Client::connect(&base, postgres::NoTls)?.batch_execute(&owned));
        match done.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{sql}: {e}"),
            Err(_) => panic!("{sql}: the thread panicked"),
        }
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        self.run(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}
