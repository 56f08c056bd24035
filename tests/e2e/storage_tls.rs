//! TLS to PostgreSQL against a real server with `ssl = on`: a throwaway cluster made by
//! `initdb` and run by `pg_ctl` for this test alone (the machine's own server is left alone),
//! with a certificate authority made at test time. Its pg_hba requires TLS and a client
//! certificate for one user (`cert` authentication), so client certificates are proven too.
//!
//! Runs when `SWITCHYARD_TEST_POSTGRES_URL` is set (the PostgreSQL tests' switch); then the
//! server's binaries must be installed (`/usr/lib/postgresql/*/bin`, Debian's layout).

use crate::support::TestGateway;
use crate::support::tls::TestCa;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use switchyard::queue::Store;

const LEASE: Duration = Duration::from_secs(15);

/// A PostgreSQL cluster of its own, stopped and deleted when dropped.
struct Throwaway {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    ca: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

/// The newest PostgreSQL server binaries installed.
fn server_bin() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| p.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    found.pop().unwrap_or_else(|| panic!("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (initdb)"))
}

/// Runs a server binary as the `postgres` user when this is root (initdb refuses root).
fn run(bin: &Path, tool: &str, args: &[&str]) {
    let is_root =
        std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
    let exe = bin.join(tool);
    let status = if is_root {
        Command::new("runuser").args(["-u", "postgres", "--"]).arg(&exe).args(args).status()
    } else {
        Command::new(&exe).args(args).status()
    };
    assert!(status.is_ok_and(|s| s.success()), "{tool} {args:?} failed");
}

impl Throwaway {
    fn start() -> Option<Self> {
        std::env::var("SWITCHYARD_TEST_POSTGRES_URL").ok()?;
        let bin = server_bin();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        chown_postgres(&root);
        let data_arg = data.to_string_lossy().to_string();
        run(&bin, "initdb", &["-D", &data_arg, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);

        let ca = TestCa::new();
        let server = ca.issue(&["localhost"]);
        let (cert, key) = server.write(&data, "server");
        let ca_file = ca.write(&root, "ca.crt");
        std::fs::copy(&ca_file, data.join("ca.crt")).unwrap();
        let client = ca.issue_for_user("certuser");
        let (client_cert, client_key) = client.write(&root, "client");
        for file in [&cert, &key, &data.join("ca.crt"), &client_key, &client_cert] {
            set_mode(file, 0o600);
            chown_postgres(file);
        }
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all certuser 127.0.0.1/32 cert\n\
             hostnossl all certuser 127.0.0.1/32 reject\n\
             host all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        let port = crate::support::free_port();
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\nssl = on\n\
             ssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'ca.crt'\nfsync = off\n",
            root.display()
        );
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(&settings);
        std::fs::write(&conf, text).unwrap();
        let log = root.join("server.log").to_string_lossy().to_string();
        run(&bin, "pg_ctl", &["-D", &data_arg, "-l", &log, "-w", "-t", "60", "start"]);
        let cluster = Throwaway { dir, bin, port, ca: ca_file, client_cert, client_key };
        cluster.sql("CREATE ROLE certuser LOGIN");
        cluster.sql("CREATE DATABASE certdb OWNER certuser");
        Some(cluster)
    }

    fn sql(&self, sql: &str) {
        let (url, owned) = (format!("postgres://postgres@127.0.0.1:{}/postgres", self.port), sql.to_string());
        let done = std::thread::spawn(move || postgres::Client::connect(&url, postgres::NoTls)?.batch_execute(&owned));
        match done.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("{sql}: {e}"),
            Err(_) => panic!("{sql}: the thread panicked"),
        }
    }

    fn url(&self, user_db: &str, host: &str, query: &str) -> String {
        format!(
            "postgres://{user_db}@{host}:{}/{}?{query}",
            self.port,
            if user_db == "certuser" { "certdb" } else { "postgres" }
        )
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let data = self.dir.path().join("data").to_string_lossy().to_string();
        run(&self.bin, "pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

fn chown_postgres(path: &Path) {
    let _ = Command::new("chown").args(["postgres:postgres"]).arg(path).status();
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Opens the store at `url` and proves it writes; the error's text when it cannot.
async fn opens(url: &str) -> Result<(), String> {
    let owned = url.to_string();
    let store = tokio::task::spawn_blocking(move || Store::open(&owned, Path::new("."), LEASE))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    store.probe().await.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_a_server_with_its_own_ca_is_verified_as_libpq_would() {
    let Some(pg) = Throwaway::start() else { return };
    let ca = pg.ca.display().to_string();
    // require: encrypted, the certificate not checked.
    opens(&pg.url("postgres", "127.0.0.1", "sslmode=require")).await.expect("require");
    // verify-full with the right CA and the name the certificate has.
    let full = pg.url("postgres", "localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    opens(&full).await.expect("verify-full");
    // A CA that did not sign the server's certificate: refused at open, saying why.
    let other = TestCa::named("Some other CA").write(pg.dir.path(), "other-ca.crt").display().to_string();
    let wrong_ca = pg.url("postgres", "localhost", &format!("sslmode=verify-full&sslrootcert={other}"));
    let error = opens(&wrong_ca).await.err().unwrap_or_else(|| panic!("an unknown CA was accepted"));
    assert!(error.contains("UnknownIssuer") || error.contains("unknown issuer"), "{error}");
    // The right CA, but a host name the certificate does not name.
    let wrong_host = pg.url("postgres", "127.0.0.1", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let error = opens(&wrong_host).await.err().unwrap_or_else(|| panic!("a wrong host name was accepted"));
    assert!(error.contains("NotValidForName") || error.contains("not valid for"), "{error}");
    // verify-ca checks the CA but not the name.
    opens(&pg.url("postgres", "127.0.0.1", &format!("sslmode=verify-ca&sslrootcert={ca}"))).await.expect("verify-ca");
    // A user the server only lets in with a client certificate: in with one, out without.
    let (cert, key) = (pg.client_cert.display(), pg.client_key.display());
    let with_cert =
        pg.url("certuser", "localhost", &format!("sslmode=verify-full&sslrootcert={ca}&sslcert={cert}&sslkey={key}"));
    opens(&with_cert).await.expect("client certificate");
    let without = pg.url("certuser", "localhost", &format!("sslmode=verify-full&sslrootcert={ca}"));
    let error = opens(&without).await.err().unwrap_or_else(|| panic!("cert authentication passed without one"));
    assert!(error.contains("certificate"), "{error}");

    // A gateway on it serves, and /ready reports the database.
    let toml = format!(
        "[storage]\nurl = \"{full}\"\n\n[sources.shop]\nprovider = \"generic\"\nscope_field = \"scope\"\n\n\
         [destinations.d]\nurl = \"http://127.0.0.1:9/\"\n\n[[routes]]\nmatch = \"*\"\nto = [\"d\"]\n"
    );
    let gw = TestGateway::start_with_admin(&toml).await.unwrap();
    let ready = gw.client.get(gw.admin_url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let text = ready.text().await.unwrap_or_default();
    assert!(text.contains("store"), "{text}");
    gw.gateway.stop().await;
}
