//! `ely-repo dashboard` as users see it: the live view in a real terminal (a tmux pane of
//! its own server), showing a repository added from a `file://` bare repository, quitting
//! on `q` with the terminal put back (raw mode off, the alternate screen left); and
//! `dashboard --once` off a terminal, plain text.

mod util;

use util::tmux::Tmux;
use util::{git, Workdir};

/// A bare repository with two files pushed, added as `shop` (state `repos.db`, embedded
/// store `store.db`, cron entry in the file `crontab`).
fn added(w: &Workdir) {
    let bare = w.path("origin.git");
    let work = w.path("work");
    std::fs::create_dir_all(&bare).unwrap();
    git(&bare, &["init", "-q", "--bare", "-b", "main"]);
    std::fs::create_dir_all(work.join("src")).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
    std::fs::write(work.join("README.md"), "# Shop\n").unwrap();
    std::fs::write(work.join("src/main.rs"), "fn main() {}\n").unwrap();
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["push", "-q", "origin", "main"]);
    let url = format!("file://{}", bare.display());
    let (state, store, crontab, home) = (
        w.path("repos.db"),
        w.path("store.db"),
        w.path("crontab"),
        w.path("home"),
    );
    w.run_env(
        "ely-repo",
        &[
            "--state",
            state.to_str().unwrap(),
            "add",
            &url,
            "--name",
            "shop",
            "--yes",
            "--store",
            store.to_str().unwrap(),
            "--crontab-file",
            crontab.to_str().unwrap(),
            "--schedule",
            "30m",
        ],
        b"",
        &[("ELY_HOME", home.to_str().unwrap())],
    )
    .ok();
}

/// `text` quoted for sh.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// Runs the live view in tmux, checks what it shows, ends it with `stop`, and checks the
/// terminal was put back and the exit code.
fn live(stop: impl FnOnce(&Tmux), exit: &str) {
    let w = Workdir::new();
    added(&w);
    // The pane's shell runs the dashboard, then notes how it ended and how the terminal
    // was left: its exit code, stty's settings, whether the alternate screen is on.
    // tmux in the pane finds its server and pane through $TMUX and $TMUX_PANE.
    let tmux = |cmd: &str, rest: &str| format!("tmux {cmd} -t \"$TMUX_PANE\" {rest}");
    let script = format!(
        "unset ELY_STORE WEAVIATE_URL WEAVIATE_API_KEY\n\
         export ELY_HOME={home} NO_COLOR=1 TZ=UTC\n\
         echo ely-before-dashboard\n\
         {bin} --state {state} dashboard\n\
         echo $? > {exit}\n\
         stty -a > {stty}\n\
         {alt} > {alt_file}\n\
         sleep 0.3\n\
         {capture} > {screen}\n",
        home = quoted(w.path("home").to_str().unwrap()),
        bin = quoted(env!("CARGO_BIN_EXE_ely-repo")),
        state = quoted(w.path("repos.db").to_str().unwrap()),
        exit = quoted(w.path("exit").to_str().unwrap()),
        stty = quoted(w.path("stty").to_str().unwrap()),
        alt = tmux("display-message", "-p '#{alternate_on}'"),
        alt_file = quoted(w.path("alternate").to_str().unwrap()),
        capture = tmux("capture-pane", "-p"),
        screen = quoted(w.path("screen").to_str().unwrap()),
    );
    let script_path = w.write("dashboard.sh", script.as_bytes());
    let t = Tmux::start(
        120,
        40,
        &format!("sh {}", quoted(script_path.to_str().unwrap())),
    );
    for text in ["shop", "healthy", "Repositories (1)"] {
        t.wait_for(text, 15);
    }
    let screen = t.wait_for("q quits", 15);
    assert!(
        screen.contains("1 repository: ✓ 1 healthy"),
        "the health summary:\n{screen}"
    );
    assert!(!screen.contains("ely-before-dashboard"), "{screen}");
    // NO_COLOR: the symbols stay (no colour is checked by the unit tests).
    assert!(screen.contains("✓ healthy"), "{screen}");
    assert_eq!(t.display("#{alternate_on}"), "1", "the alternate screen");

    stop(&t);
    assert!(
        t.wait_end(10),
        "the dashboard did not end 10 s after it was told to:\n{}",
        t.screen()
    );
    let read = |name: &str| String::from_utf8_lossy(&w.read(name)).trim().to_owned();
    assert_eq!(read("exit"), exit);
    // Raw mode is off: the line discipline edits and echoes again.
    let stty = read("stty");
    let flags: Vec<&str> = stty.split_whitespace().collect();
    assert!(
        flags.contains(&"icanon") && flags.contains(&"echo"),
        "{stty}"
    );
    assert_eq!(read("alternate"), "0", "the alternate screen was left");
    // The screen from before the dashboard is back, without the dashboard's frame.
    let after = read("screen");
    assert!(after.contains("ely-before-dashboard"), "{after}");
    assert!(!after.contains("Repositories (1)"), "{after}");
}

#[test]
fn the_live_view_shows_the_repository_and_q_puts_the_terminal_back() {
    live(|t| t.keys(&["q"]), "0");
}

#[test]
fn a_signal_to_the_live_view_puts_the_terminal_back() {
    live(
        |t| {
            // The pane's shell runs the dashboard: its child.
            let shell = t.display("#{pane_pid}");
            let out = std::process::Command::new("pgrep")
                .args(["-P", &shell, "-x", "ely-repo"])
                .output()
                .expect("pgrep");
            let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(
                !pid.is_empty(),
                "no ely-repo under the pane's shell {shell}"
            );
            let killed = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill");
            assert!(killed.success());
        },
        "130",
    );
}

#[test]
fn once_off_a_terminal_prints_plain_text() {
    let w = Workdir::new();
    added(&w);
    let state = w.path("repos.db");
    let home = w.path("home");
    let run = w.run_env(
        "ely-repo",
        &["--state", state.to_str().unwrap(), "dashboard", "--once"],
        b"",
        &[("ELY_HOME", home.to_str().unwrap()), ("TZ", "UTC")],
    );
    run.ok();
    let text = String::from_utf8(run.stdout().to_vec()).unwrap();
    assert!(!text.contains('\x1b'), "escape codes in {text:?}");
    assert!(text.contains("1 repository: 1 healthy"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains("shop"))
        .unwrap_or_else(|| panic!("no row of shop in\n{text}"));
    assert!(row.contains("Shop") && row.contains("healthy"), "{row}");
    // Its one sync (the add's) succeeded.
    assert!(row.contains("100%"), "{row}");
    // Off a terminal without --once, the same: 100 columns by 30 rows.
    let piped = w.run_env(
        "ely-repo",
        &[
            "--state",
            state.to_str().unwrap(),
            "dashboard",
            "--width",
            "80",
            "--height",
            "20",
        ],
        b"",
        &[("ELY_HOME", home.to_str().unwrap())],
    );
    piped.ok();
    let text = String::from_utf8(piped.stdout().to_vec()).unwrap();
    assert_eq!(text.lines().count(), 20, "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
    assert!(text.contains("shop") && !text.contains('\x1b'), "{text}");
}
