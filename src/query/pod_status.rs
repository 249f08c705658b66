//! The derived pod status of the `status` filter (algorithms §9.5): what `kubectl get pods` shows in its STATUS
//! column, grouped into `Running`, `Waiting`, `Error` and `Completed`.

use k8s_openapi::api::core::v1::{ContainerStatus, Pod, PodCondition};

/// The four values the `status` filter accepts (exact, case-sensitive).
pub const STATUSES: [&str; 4] = ["Running", "Waiting", "Error", "Completed"];

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.is_empty())
}

fn ready_conditions(pod: &Pod) -> impl Iterator<Item = &PodCondition> {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .filter(|c| c.type_ == "Ready")
}

/// The reason `r` of algorithms §9.5 — kubectl's STATUS column (`Running`, `Init:0/2`, `CrashLoopBackOff`,
/// `Terminating`, …).
pub fn display_reason(pod: &Pod) -> String {
    let status = pod.status.as_ref();
    let status_reason = non_empty(status.and_then(|s| s.reason.as_deref()));
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
    let mut r = status_reason.unwrap_or(phase).to_owned();

    let init_total = pod
        .spec
        .as_ref()
        .map_or(0, |s| s.init_containers.as_ref().map_or(0, Vec::len));
    let init_statuses: &[ContainerStatus] = status
        .and_then(|s| s.init_container_statuses.as_deref())
        .unwrap_or_default();
    let mut initializing = false;
    for (i, c) in init_statuses.iter().enumerate() {
        let state = c.state.as_ref();
        let terminated = state.and_then(|s| s.terminated.as_ref());
        let waiting = state.and_then(|s| s.waiting.as_ref());
        if terminated.is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        initializing = true;
        if let Some(t) = terminated {
            let signal = t.signal.unwrap_or(0);
            r = match non_empty(t.reason.as_deref()) {
                Some(reason) => format!("Init:{reason}"),
                None if signal != 0 => format!("Init:Signal:{signal}"),
                None => format!("Init:ExitCode:{}", t.exit_code),
            };
        } else if let Some(reason) = non_empty(waiting.and_then(|w| w.reason.as_deref()))
            .filter(|reason| *reason != "PodInitializing")
        {
            r = format!("Init:{reason}");
        } else {
            r = format!("Init:{i}/{init_total}");
        }
        break;
    }

    if !initializing {
        let mut running = false;
        let statuses: &[ContainerStatus] = status
            .and_then(|s| s.container_statuses.as_deref())
            .unwrap_or_default();
        for c in statuses.iter().rev() {
            let state = c.state.as_ref();
            let terminated = state.and_then(|s| s.terminated.as_ref());
            let waiting_reason = non_empty(
                state
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref()),
            );
            if let Some(reason) = waiting_reason {
                r = reason.to_owned();
            } else if let Some(reason) = non_empty(terminated.and_then(|t| t.reason.as_deref())) {
                r = reason.to_owned();
            } else if let Some(t) = terminated {
                let signal = t.signal.unwrap_or(0);
                r = if signal != 0 {
                    format!("Signal:{signal}")
                } else {
                    format!("ExitCode:{}", t.exit_code)
                };
            } else if c.ready && state.is_some_and(|s| s.running.is_some()) {
                running = true;
            }
        }
        if r == "Completed" && running {
            let ready = ready_conditions(pod).any(|c| c.status == "True");
            r = if ready { "Running" } else { "NotReady" }.to_owned();
        }
    }

    if pod.metadata.deletion_timestamp.is_some() {
        r = if status_reason == Some("NodeLost") {
            "Unknown"
        } else {
            "Terminating"
        }
        .to_owned();
    }
    r
}

/// The derived status of a pod: `Running`, `Waiting`, `Error` or `Completed` (algorithms §9.5).
pub fn derived_status(pod: &Pod) -> &'static str {
    let r = display_reason(pod);
    if r == "Running" {
        "Running"
    } else if r == "Failed" || r == "Error" || r.starts_with("OutOf") {
        "Error"
    } else if r == "Completed"
        || (r == "Succeeded"
            && ready_conditions(pod).all(|c| c.reason.as_deref() == Some("PodCompleted")))
    {
        "Completed"
    } else {
        "Waiting"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        Container, ContainerState, ContainerStateRunning, ContainerStateTerminated,
        ContainerStateWaiting, PodSpec, PodStatus,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn pod(name: &str, phase: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some("st".to_owned()),
                ..ObjectMeta::default()
            },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".to_owned(),
                    ..Container::default()
                }],
                ..PodSpec::default()
            }),
            status: Some(PodStatus {
                phase: Some(phase.to_owned()),
                ..PodStatus::default()
            }),
        }
    }

    fn container(state: ContainerState, ready: bool) -> ContainerStatus {
        ContainerStatus {
            name: "c".to_owned(),
            ready,
            state: Some(state),
            ..ContainerStatus::default()
        }
    }

    fn running() -> ContainerState {
        ContainerState {
            running: Some(ContainerStateRunning::default()),
            ..ContainerState::default()
        }
    }

    fn waiting(reason: &str) -> ContainerState {
        ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.to_owned()),
                ..ContainerStateWaiting::default()
            }),
            ..ContainerState::default()
        }
    }

    fn terminated(reason: &str, exit_code: i32, signal: i32) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                reason: (!reason.is_empty()).then(|| reason.to_owned()),
                exit_code,
                signal: (signal != 0).then_some(signal),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        }
    }

    fn condition(type_: &str, status: &str, reason: &str) -> PodCondition {
        PodCondition {
            type_: type_.to_owned(),
            status: status.to_owned(),
            reason: (!reason.is_empty()).then(|| reason.to_owned()),
            ..PodCondition::default()
        }
    }

    fn status_mut(pod: &mut Pod) -> &mut PodStatus {
        pod.status.get_or_insert_with(PodStatus::default)
    }

    fn with_containers(mut pod: Pod, containers: Vec<ContainerStatus>) -> Pod {
        status_mut(&mut pod).container_statuses = Some(containers);
        pod
    }

    fn with_init(mut pod: Pod, specs: usize, statuses: Vec<ContainerStatus>) -> Pod {
        if let Some(spec) = pod.spec.as_mut() {
            spec.init_containers = Some(
                (0..specs)
                    .map(|i| Container {
                        name: format!("init-{i}"),
                        ..Container::default()
                    })
                    .collect(),
            );
        }
        status_mut(&mut pod).init_container_statuses = Some(statuses);
        pod
    }

    fn s_run() -> Pod {
        let mut p = with_containers(pod("s-run", "Running"), vec![container(running(), true)]);
        status_mut(&mut p).conditions = Some(vec![condition("Ready", "True", "")]);
        p
    }

    /// The pods of case 100 with their expected derived status.
    fn case_100_pods() -> Vec<(Pod, &'static str)> {
        let mut done = with_containers(
            pod("s-done", "Succeeded"),
            vec![container(terminated("Completed", 0, 0), false)],
        );
        status_mut(&mut done).conditions = Some(vec![condition("Ready", "False", "PodCompleted")]);
        let mut oom = pod("s-oom", "Failed");
        status_mut(&mut oom).reason = Some("OutOfcpu".to_owned());
        let mut term = s_run();
        term.metadata.name = Some("s-term".to_owned());
        term.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        vec![
            (s_run(), "Running"),
            (
                with_containers(
                    pod("s-create", "Pending"),
                    vec![container(waiting("ContainerCreating"), false)],
                ),
                "Waiting",
            ),
            (
                with_containers(
                    pod("s-crash", "Running"),
                    vec![container(waiting("CrashLoopBackOff"), false)],
                ),
                "Waiting",
            ),
            (
                with_containers(
                    pod("s-err", "Running"),
                    vec![container(terminated("Error", 1, 0), false)],
                ),
                "Error",
            ),
            (done, "Completed"),
            (oom, "Error"),
            (
                with_init(
                    pod("s-init", "Pending"),
                    2,
                    vec![
                        container(waiting("PodInitializing"), false),
                        container(waiting("PodInitializing"), false),
                    ],
                ),
                "Waiting",
            ),
            (term, "Waiting"),
        ]
    }

    #[test]
    fn case_100_derived_status() {
        for (pod, expected) in case_100_pods() {
            let name = pod.metadata.name.clone().unwrap_or_default();
            assert_eq!(
                derived_status(&pod),
                expected,
                "{name}: r = {}",
                display_reason(&pod)
            );
        }
    }

    /// Case 100 as filter results: `status=<v>` keeps exactly the pods whose derived status equals `v`.
    #[test]
    fn case_100_filter_results() {
        let pods = case_100_pods();
        let select = |value: &str| {
            let mut names: Vec<String> = pods
                .iter()
                .filter(|(p, _)| derived_status(p) == value)
                .filter_map(|(p, _)| p.metadata.name.clone())
                .collect();
            names.sort();
            names
        };
        assert_eq!(select("Running"), ["s-run"]);
        assert_eq!(select("Error"), ["s-err", "s-oom"]);
        assert_eq!(select("Completed"), ["s-done"]);
        assert_eq!(
            select("Waiting"),
            ["s-crash", "s-create", "s-init", "s-term"]
        );
        assert!(select("running").is_empty());
        assert!(STATUSES.iter().all(|s| !select(s).is_empty()));
    }

    #[test]
    fn case_100_reasons() {
        let reasons: Vec<String> = case_100_pods()
            .iter()
            .map(|(p, _)| display_reason(p))
            .collect();
        assert_eq!(
            reasons,
            [
                "Running",
                "ContainerCreating",
                "CrashLoopBackOff",
                "Error",
                "Completed",
                "OutOfcpu",
                "Init:0/2",
                "Terminating"
            ]
        );
    }

    #[test]
    fn init_container_branches() {
        let base = || pod("i", "Pending");
        let done = || container(terminated("Completed", 0, 0), false);
        // Terminated with a reason.
        let p = with_init(
            base(),
            2,
            vec![container(terminated("OOMKilled", 137, 0), false), done()],
        );
        assert_eq!(display_reason(&p), "Init:OOMKilled");
        assert_eq!(derived_status(&p), "Waiting");
        // Terminated without a reason, with a signal.
        let p = with_init(base(), 1, vec![container(terminated("", 137, 9), false)]);
        assert_eq!(display_reason(&p), "Init:Signal:9");
        // Terminated without a reason or signal.
        let p = with_init(base(), 1, vec![container(terminated("", 2, 0), false)]);
        assert_eq!(display_reason(&p), "Init:ExitCode:2");
        // Waiting with a real reason.
        let p = with_init(
            base(),
            2,
            vec![done(), container(waiting("ImagePullBackOff"), false)],
        );
        assert_eq!(display_reason(&p), "Init:ImagePullBackOff");
        // Running init container after a finished one: index / total.
        let p = with_init(base(), 3, vec![done(), container(running(), false)]);
        assert_eq!(display_reason(&p), "Init:1/3");
        // Waiting with an empty reason.
        let p = with_init(base(), 1, vec![container(waiting(""), false)]);
        assert_eq!(display_reason(&p), "Init:0/1");
        // All init containers done: the main containers decide.
        let p = with_containers(
            with_init(pod("i", "Running"), 1, vec![done()]),
            vec![container(running(), true)],
        );
        assert_eq!(display_reason(&p), "Running");
        assert_eq!(derived_status(&p), "Running");
        // Init failure with exit code 0 but a failing later one: the first non-zero wins.
        let p = with_init(
            base(),
            3,
            vec![
                done(),
                container(terminated("Error", 1, 0), false),
                container(waiting("X"), false),
            ],
        );
        assert_eq!(display_reason(&p), "Init:Error");
        assert_eq!(derived_status(&p), "Waiting", "Init:Error is not Error");
    }

    #[test]
    fn container_branches() {
        // Last to first: the first container's state wins.
        let p = with_containers(
            pod("c", "Running"),
            vec![
                container(waiting("ErrImagePull"), false),
                container(terminated("Error", 1, 0), false),
            ],
        );
        assert_eq!(display_reason(&p), "ErrImagePull");
        let p = with_containers(
            pod("c", "Running"),
            vec![container(terminated("", 0, 15), false)],
        );
        assert_eq!(display_reason(&p), "Signal:15");
        let p = with_containers(
            pod("c", "Running"),
            vec![container(terminated("", 3, 0), false)],
        );
        assert_eq!(display_reason(&p), "ExitCode:3");
        assert_eq!(derived_status(&p), "Waiting");
        // A waiting container with an empty reason falls through to the other checks.
        let p = with_containers(pod("c", "Pending"), vec![container(waiting(""), false)]);
        assert_eq!(display_reason(&p), "Pending");
    }

    #[test]
    fn completed_with_a_running_sidecar() {
        let containers = vec![
            container(running(), true),
            container(terminated("Completed", 0, 0), false),
        ];
        let mut p = with_containers(pod("c", "Running"), containers);
        assert_eq!(display_reason(&p), "NotReady");
        assert_eq!(derived_status(&p), "Waiting");
        status_mut(&mut p).conditions = Some(vec![condition("Ready", "True", "")]);
        assert_eq!(display_reason(&p), "Running");
        assert_eq!(derived_status(&p), "Running");
    }

    #[test]
    fn succeeded_phase() {
        let mut p = pod("s", "Succeeded");
        assert_eq!(
            derived_status(&p),
            "Completed",
            "no Ready condition: vacuously all PodCompleted"
        );
        status_mut(&mut p).conditions = Some(vec![
            condition("Ready", "False", "PodCompleted"),
            condition("ContainersReady", "False", "Other"),
        ]);
        assert_eq!(derived_status(&p), "Completed");
        status_mut(&mut p).conditions = Some(vec![condition("Ready", "False", "Other")]);
        assert_eq!(derived_status(&p), "Waiting");
    }

    #[test]
    fn phases_and_reasons() {
        assert_eq!(derived_status(&pod("p", "Failed")), "Error");
        assert_eq!(derived_status(&pod("p", "Unknown")), "Waiting");
        assert_eq!(derived_status(&pod("p", "Running")), "Running");
        let mut p = pod("p", "Failed");
        status_mut(&mut p).reason = Some("OutOfmemory".to_owned());
        assert_eq!(derived_status(&p), "Error");
        status_mut(&mut p).reason = Some("Evicted".to_owned());
        assert_eq!(derived_status(&p), "Waiting");
        status_mut(&mut p).reason = Some(String::new());
        assert_eq!(
            display_reason(&p),
            "Failed",
            "an empty reason falls back to the phase"
        );
        assert_eq!(derived_status(&Pod::default()), "Waiting");
    }

    #[test]
    fn deletion() {
        let mut p = s_run();
        p.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(display_reason(&p), "Terminating");
        status_mut(&mut p).reason = Some("NodeLost".to_owned());
        assert_eq!(display_reason(&p), "Unknown");
        assert_eq!(derived_status(&p), "Waiting");
    }

    #[test]
    fn case_87_pod_statuses() {
        let mut foo1 = s_run();
        foo1.metadata.name = Some("foo-1".to_owned());
        let foo2 = with_containers(
            pod("foo-2", "Pending"),
            vec![container(waiting("ContainerCreating"), false)],
        );
        assert_eq!(derived_status(&foo1), "Running");
        assert_eq!(derived_status(&foo2), "Waiting");
    }
}
