//! Network scenarios, one file each in tests/scenarios/, played in sealed namespaces.

mod sim;

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        $(#[test] fn $name() { sim::play(stringify!($name)); })*

        #[test]
        fn every_scenario_file_is_played() {
            let played = [$(stringify!($name)),*];
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
            for entry in std::fs::read_dir(dir).unwrap() {
                let name = entry.unwrap().path().file_stem().unwrap().to_string_lossy().to_string();
                assert!(played.contains(&name.as_str()), "tests/scenarios/{name}.toml has no test");
                sim::Scenario::load(&name);
            }
        }
    };
}

scenarios! {
    healthy,
    udp_echo,
    all_dropped,
    firewall_rejects,
    dns_faults,
    dns_timeout,
    dns_server_flag,
    dns_fallback,
    tls_faults,
    mtu_blackhole,
    missing_input,
    jsonl_stream,
    jsonl_slow_reader,
    udp_prohibited,
    udp_host_unreachable,
    hostile_http,
    websocket_faults,
    websocket_block_page,
    smb_not_smb,
    smb_silent,
    proxy_flag,
    proxy_denied,
    proxy_down,
    proxy_needs_auth,
    compute_instance,
    custom_dns_without_forwarders,
    cluster_node,
    attached_vm,
    attached_vm_ubuntu,
    sovereign_usgov,
    expected_blocked,
    imds_malformed,
    imds_wrong_types,
    imds_slow,
    imds_garbage,
    hook_fail_policy,
    hook_record_policy,
    hook_healthy,
    static_chroot,
    bench_third_dropped,
    scale_100,
    scale_1000,
    scale_10000,
    real_world,
    batch_account_url,
    public_ip_without_pe,
    storage_firewall,
    clock_skew,
    sovereign_private_endpoint,
    fix_forced_tunnel,
    fix_usgov,
    watch_dns_flapping,
    watch_intermittent,
    explain_storage_mount_error,
    preflight,
    egress_firewall_allow,
    egress_firewall_deny,
    egress_firewall_reset,
    egress_firewall_inspect,
    egress_firewall_catalog,
    tls_closed_after_hello,
    vscode_remote,
    vscode_transfer_stalled,
    vscode_firewall_denied,
    registry,
    registry_firewall,
    registry_dropped,
    registry_public,
    explain_vscode_download,
    keyvault_notebooks,
    vscode_transfer_slow,
    vscode_transfer_short,
    registry_no_private_endpoint,
    registry_data_record_missing,
}

/// `merge` and `diff` over the reports that `healthy` and `firewall_rejects` write.
#[test]
fn fleet_merge_and_diff() {
    sim::fleet::merge_and_diff();
}

/// `merge` of 1,000 nodes' reports within 64 MiB, in every format.
#[test]
fn fleet_merge_1000_reports_within_64_mib() {
    sim::fleet::merge_memory();
}

/// `merge` of 100 reports and one of 9,000 checks, every format within 64 MiB.
#[test]
fn fleet_merge_of_a_wide_report_within_64_mib() {
    sim::fleet::merge_wide_memory();
}
