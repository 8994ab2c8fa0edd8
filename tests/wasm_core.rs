//! The wasm build as JavaScript calls it: `ApiaryCore` over a host object written in JS.
//! Runs in Node and in headless Chromium and Firefox (see scripts/test.sh).
#![cfg(target_arch = "wasm32")]

use apiary::api::{CallContext, PollArgs, SpawnArgs};
use apiary::wasm::{ApiaryCore, JsHost};
use js_sys::{Function, Reflect};
use tsify::Ts;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

/// A host object in plain JavaScript: an in-memory log and a scriptable fake server.
const FAKE_HOST: &str = r#"
  let data = new Uint8Array(0), next = 0;
  const host = {
    prompts: [], deleted: [], warnings: [], aborted: [], toasts: [], status: {}, failCreate: null, snapshot: undefined,
    machineState: { load_percent: 10, free_memory_mb: 8192 },
    async createSession(parent, title, directory) {
      if (host.failCreate) throw new Error(host.failCreate);
      next += 1; host.lastParent = parent; return "ses_" + next;
    },
    async deleteSession(id) { host.deleted.push(id); },
    async promptAsync(request) { host.prompts.push([request.sessionId, request.text]); host.lastPrompt = request; },
    async sessionStatus(directory) { return host.status; },
    async sessionMessages(id, directory, limit) { return []; },
    async agents() { return ["build", "plan"]; },
    async abortSession(id) { host.aborted.push(id); },
    async disposeInstance(directory) {},
    async warmInstance(directory) {},
    async probeServer(server) { throw new Error(`${server} does not answer`); },
    async showToast(title, message, variant) { host.toasts.push([title, message, variant]); },
    async machine() { return host.machineState; },
    async git(cwd, args) { throw new Error("git is not installed"); },
    async shell(cwd, script) { throw new Error("sh is not installed"); },
    async remoteShell(server, directory, script, agent) { throw new Error(`${server} does not answer`); },
    async remoteAgents(server, directory) { throw new Error(`${server} does not answer`); },
    logChanged() { return new Promise(() => {}); },
    idleSleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); },
    warn(message) { host.warnings.push(message); },
    async lock() {}, async unlock() {},
    async readFrom(offset) { return data.slice(offset); },
    async write(bytes) {
      const d = new Uint8Array(data.length + bytes.length);
      d.set(data); d.set(bytes, data.length); data = d;
    },
    async sync() {},
    async truncate(length) { data = data.slice(0, length); },
    async loadSnapshot() { return host.snapshot; },
    async saveSnapshot(bytes) { host.snapshot = bytes.slice(); },
    now() { return 1700000000000; },
    text() { return new TextDecoder().decode(data); },
  };
  return host;
"#;

fn fake_host() -> JsValue {
    Function::new_no_args(FAKE_HOST)
        .call0(&JsValue::NULL)
        .unwrap()
}

fn core(host: &JsValue) -> ApiaryCore {
    ApiaryCore::new(host.clone().unchecked_into::<JsHost>(), None).unwrap()
}

/// A core with options given as JavaScript gives them (JSON text parsed to an object).
fn core_with(host: &JsValue, options: &str) -> Result<ApiaryCore, JsValue> {
    let options = js_sys::JSON::parse(options).unwrap();
    ApiaryCore::new(
        host.clone().unchecked_into::<JsHost>(),
        Some(Ts::new_unchecked(options)),
    )
    .map_err(JsValue::from)
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap()
}

fn log_text(host: &JsValue) -> String {
    let text: Function = get(host, "text").unchecked_into();
    text.call0(host).unwrap().as_string().unwrap()
}

fn ctx() -> Ts<CallContext> {
    Ts::from_rust(&CallContext {
        session_id: "ses_coord".into(),
        directory: "/repo".into(),
    })
    .unwrap()
}

fn spawn_args(bead: &str) -> Ts<SpawnArgs> {
    Ts::from_rust(&SpawnArgs {
        bead_id: bead.into(),
        epic_id: "ep".into(),
        title: "Write it".into(),
        description: None,
        files: vec![format!("src/{bead}.rs")],
        dependencies: None,
        shared_context: None,
        agent: None,
        model: None,
        priority: None,
        verify: None,
    })
    .unwrap()
}

fn poll_args() -> Ts<PollArgs> {
    Ts::from_rust(&PollArgs {
        epic_id: "ep".into(),
        include_messages: None,
    })
    .unwrap()
}

#[wasm_bindgen_test]
async fn spawn_through_a_js_host_prompts_a_child_session_and_records_the_worker() {
    let host = fake_host();
    let core = core(&host);
    let reply = core
        .spawn_async(ctx(), spawn_args("bd-1"))
        .await
        .unwrap()
        .to_rust()
        .unwrap();
    // The reply comes before the session: the scheduler's round makes it.
    assert_eq!(reply.session_id, "");
    core.drain().await.unwrap();
    assert_eq!(get(&host, "lastParent").as_string().unwrap(), "ses_coord");
    let prompts: js_sys::Array = get(&host, "prompts").unchecked_into();
    assert_eq!(prompts.length(), 1);
    let log = log_text(&host);
    assert!(
        log.starts_with(
            "{\"seq\":1,\"v\":2,\"timestamp\":1700000000000,\"type\":\"worker_queued\""
        ),
        "{log}"
    );
    assert!(log.contains("\"type\":\"worker_spawned\""), "{log}");
}

#[wasm_bindgen_test]
async fn a_workers_first_prompt_reaches_the_host_in_the_sdks_shape() {
    let host = fake_host();
    let core = core(&host);
    let args = js_sys::JSON::parse(
        r#"{"bead_id":"bd-1","epic_id":"ep","title":"Write it","files":["a.rs"],
            "agent":"build","model":"prov/some-model"}"#,
    )
    .unwrap();
    core.spawn_async(ctx(), Ts::new_unchecked(args))
        .await
        .unwrap();
    core.drain().await.unwrap();
    let prompt = get(&host, "lastPrompt");
    let keys: Vec<String> = js_sys::Object::keys(prompt.unchecked_ref::<js_sys::Object>())
        .iter()
        .map(|k| k.as_string().unwrap())
        .collect();
    // No worktree (git cannot run here), and not synthetic: both are left out.
    assert_eq!(keys, ["sessionId", "text", "agent", "model", "toolsOff"]);
    assert_eq!(get(&prompt, "sessionId").as_string().unwrap(), "ses_1");
    assert!(get(&prompt, "text").as_string().unwrap().contains("bd-1"));
    assert_eq!(
        js_sys::JSON::stringify(&get(&prompt, "model")).unwrap(),
        r#"{"providerID":"prov","modelID":"some-model"}"#
    );
    let off = js_sys::Array::from(&get(&prompt, "toolsOff"));
    assert!(off.includes(&"swarm_spawn_async".into(), 0));
    assert!(off.includes(&"question".into(), 0));
}

#[wasm_bindgen_test]
async fn a_worker_absent_from_the_status_map_is_pending_and_a_busy_one_in_progress() {
    let host = fake_host();
    let core = core(&host);
    core.spawn_async(ctx(), spawn_args("bd-1")).await.unwrap();
    core.spawn_async(ctx(), spawn_args("bd-2")).await.unwrap();
    core.drain().await.unwrap();
    let busy = js_sys::JSON::parse(r#"{"type":"busy"}"#).unwrap();
    Reflect::set(&get(&host, "status"), &"ses_2".into(), &busy).unwrap();
    let report = core
        .poll_workers(ctx(), poll_args())
        .await
        .unwrap()
        .to_rust()
        .unwrap();
    assert_eq!(report.pending.len(), 1, "{}", report.output);
    assert_eq!(report.in_progress.len(), 1, "{}", report.output);
}

#[wasm_bindgen_test]
async fn a_throwing_host_call_at_a_start_is_recorded_once_naming_the_call() {
    let host = fake_host();
    Reflect::set(&host, &"failCreate".into(), &"server went away".into()).unwrap();
    let core = core(&host);
    core.spawn_async(ctx(), spawn_args("bd-1")).await.unwrap();
    core.drain().await.unwrap();
    let log = log_text(&host);
    assert!(
        log.contains("\"error\":\"could not start: session.create failed: server went away\""),
        "{log}"
    );
    assert_eq!(log.matches("worker_failed").count(), 1, "{log}");
}

#[wasm_bindgen_test]
async fn arguments_of_the_wrong_shape_are_refused_with_the_field_named() {
    let host = fake_host();
    let bad = js_sys::JSON::parse(r#"{"bead_id":"bd-1","epic_id":"ep","files":[]}"#).unwrap();
    let err = core(&host)
        .spawn_async(ctx(), Ts::new_unchecked(bad))
        .await
        .expect_err("refused");
    let message = String::from(js_sys::Error::from(JsValue::from(err)).message());
    assert_eq!(message, "invalid argument `title`: missing");
}

#[wasm_bindgen_test]
async fn server_events_from_the_hook_move_a_worker_to_running_then_needs_review() {
    let host = fake_host();
    let core = core(&host);
    core.spawn_async(ctx(), spawn_args("bd-1")).await.unwrap();
    core.drain().await.unwrap();
    let busy = js_sys::JSON::parse(r#"{"sessionID":"ses_1","status":{"type":"busy"}}"#).unwrap();
    core.observe("session.status".into(), busy).await.unwrap();
    let idle = js_sys::JSON::parse(r#"{"sessionID":"ses_1"}"#).unwrap();
    core.observe("session.idle".into(), idle).await.unwrap();
    core.observe("message.part.updated".into(), JsValue::NULL)
        .await
        .unwrap();
    let report = core
        .poll_workers(ctx(), poll_args())
        .await
        .unwrap()
        .to_rust()
        .unwrap();
    assert_eq!(
        report.completed[0].state, "needs_review",
        "{}",
        report.output
    );
    let log = log_text(&host);
    assert!(
        log.contains("worker_started") && log.contains("worker_idle"),
        "{log}"
    );
}

#[wasm_bindgen_test]
async fn past_the_limit_a_spawn_is_queued_and_starts_when_the_js_host_reports_a_slot_free() {
    let host = fake_host();
    let core = core_with(&host, r#"{"max_running": 1}"#).unwrap();
    core.spawn_async(ctx(), spawn_args("bd-1")).await.unwrap();
    core.drain().await.unwrap();
    let queued = core
        .spawn_async(ctx(), spawn_args("bd-2"))
        .await
        .unwrap()
        .to_rust()
        .unwrap();
    assert_eq!(queued.queue_position, Some(1), "{}", queued.output);
    // The first worker's session is deleted: its slot frees and the scheduler starts bd-2.
    let deleted = js_sys::JSON::parse(r#"{"info":{"id":"ses_1"}}"#).unwrap();
    core.observe("session.deleted".into(), deleted)
        .await
        .unwrap();
    // The instance's duties run the scheduler, which starts bd-2 on its own.
    let _duties = core.run_duties();
    let prompts: js_sys::Array = get(&host, "prompts").unchecked_into();
    for _ in 0..100 {
        if prompts.length() == 2 {
            break;
        }
        gloo_timers::future::TimeoutFuture::new(50).await;
    }
    assert_eq!(prompts.length(), 2);
    let warnings: js_sys::Array = get(&host, "warnings").unchecked_into();
    assert_eq!(warnings.length(), 0, "{:?}", warnings.to_vec());
    let status = core
        .status(Ts::from_rust(&apiary::api::StatusArgs::default()).unwrap())
        .await
        .unwrap()
        .to_rust()
        .unwrap();
    assert!(
        status.output.starts_with(
            "running 1/1 · queued 0 (max 64) · blocked 0\nmachine: load 10% of CPUs, 8192 MB free"
        ),
        "{}",
        status.output
    );
    let cancelled = core
        .cancel(
            Ts::from_rust(&apiary::api::CancelArgs {
                bead_id: Some("bd-2".into()),
                ..Default::default()
            })
            .unwrap(),
        )
        .await
        .unwrap()
        .to_rust()
        .unwrap();
    assert_eq!(cancelled.output, "cancelled 1; stopped: bd-2");
    let aborted: js_sys::Array = get(&host, "aborted").unchecked_into();
    assert_eq!(aborted.length(), 1);
}

#[wasm_bindgen_test]
fn options_that_would_stall_the_swarm_or_are_unknown_are_refused_by_name() {
    let host = fake_host();
    for (options, expected) in [
        (
            r#"{"max_running": 0}"#,
            "invalid options: max_running must be at least 1",
        ),
        (
            r#"{"max_runing": 2}"#,
            "invalid options: unknown field `max_runing`, expected one of `worktrees`,",
        ),
        (
            r#"{"on_stall": "explode"}"#,
            r#"invalid option `on_stall`: expected one of `retry`, `fail`, got "explode""#,
        ),
    ] {
        let err = core_with(&host, options).err().expect("refused");
        let message = String::from(js_sys::Error::from(err).message());
        assert!(message.contains(expected), "{options}: {message}");
    }
}

#[wasm_bindgen_test]
async fn a_log_view_reads_a_log_in_pieces_and_answers_as_the_command_line_and_page_need() {
    use apiary::wasm::LogView;
    let host = fake_host();
    let c = core(&host);
    for bead in ["bd-1", "bd-2"] {
        c.spawn_async(ctx(), spawn_args(bead)).await.unwrap();
    }
    c.drain().await.unwrap();
    let bytes = log_text(&host).into_bytes();
    let mut view = LogView::new(None).unwrap();
    let applied: f64 = bytes.chunks(33).map(|piece| view.feed(piece)).sum();
    assert_eq!(applied, 4.0);
    let overview: JsValue = view.overview(1_700_000_001_000.0).unwrap().into();
    let epics = js_sys::Array::from(&get(&overview, "epics"));
    let workers = js_sys::Array::from(&get(&epics.get(0), "workers"));
    assert_eq!(workers.length(), 2);
    assert_eq!(get(&workers.get(1), "bead_id").as_string().unwrap(), "bd-2");
    assert_eq!(
        get(&workers.get(0), "duration_ms").as_f64().unwrap(),
        1000.0
    );
    let stats: JsValue = view.stats(1_700_000_001_000.0).unwrap().into();
    assert_eq!(get(&get(&stats, "overall"), "attempts").as_f64(), Some(2.0));

    let bad = js_sys::JSON::parse(r#"{"types": ["worker_exploded"]}"#).unwrap();
    let err = view
        .events(Some(Ts::new_unchecked(bad)))
        .expect_err("refused");
    let message = String::from(js_sys::Error::from(JsValue::from(err)).message());
    assert!(
        message.starts_with("no event type \"worker_exploded\""),
        "{message}"
    );
    let options = js_sys::JSON::parse(r#"{"max_running": 0}"#).unwrap();
    let err = view
        .set_options(Ts::new_unchecked(options))
        .expect_err("refused");
    let message = String::from(js_sys::Error::from(JsValue::from(err)).message());
    assert_eq!(message, "invalid options: max_running must be at least 1");
}
