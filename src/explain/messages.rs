//! The error messages Azure ML users see and search for, and the checks that tell their causes
//! apart: what `amlprobe explain "<error text>"` matches a pasted log line against.

use crate::reason::Reason;

/// One message Azure ML (or a tool on the node) prints when the network is in the way.
pub struct Message {
    /// The message as people see it; `…` stands for the part that changes.
    pub text: &'static str,
    /// Ways to recognise it in pasted text: each alternative is a list of phrases that must all
    /// appear, compared as [`folded`] text, so case, spacing and punctuation do not matter.
    pub keys: &'static [&'static [&'static str]],
    /// What usually causes it.
    pub causes: &'static str,
    /// The checks (ids or groups, as `--only` takes them) whose results tell the causes apart.
    pub checks: &'static [&'static str],
    /// The reason codes to look for in those checks, and what each would show here.
    pub reasons: &'static [(Reason, &'static str)],
    /// What to do besides, or instead of, running the checks.
    pub note: &'static str,
}

use Reason::*;

/// Every message `explain` knows, in the order the checks of a node meet their causes.
pub const MESSAGES: &[Message] = &[
    Message {
        text: "StorageMountError … allow outbound connection to ports 443, 445 for storage service tag … aka.ms/AMLComputeVnet",
        keys: &[&["StorageMountError"], &["ports 443, 445 for storage service tag"]],
        causes: "port 445 blocked to the storage account; the storage firewall; an identity without access to the account",
        checks: &["storage-file-445", "storage-file-443", "storage-blob-443"],
        reasons: &[
            (TcpTimeout, "445 (or 443) is dropped on the way: NSG, firewall or route"),
            (TcpRefused, "something on the path resets 445"),
            (SmbBadReply, "445 answers, but not the file service (an interceptor)"),
            (StorageFirewallDenied, "the storage account's firewall rejects this node"),
            (DnsPublicAddress, "the account resolves to its public address where a private endpoint was expected"),
        ],
        note: "when every check passes, the network is not the cause: check that the compute's identity has access to the storage account",
    },
    Message {
        text: "mount error(115): Operation now in progress",
        keys: &[&["mount error(115)"], &["mount error", "Operation now in progress"]],
        causes: "port 445 to the storage account is filtered",
        checks: &["storage-file-445"],
        reasons: &[
            (TcpTimeout, "445 is dropped silently: the usual cause of this message"),
            (TcpRefused, "445 is reset, which mount reports differently"),
        ],
        note: "",
    },
    Message {
        text: "This request is not authorized to perform this operation. (AuthorizationFailure)",
        keys: &[&["AuthorizationFailure"], &["This request is not authorized to perform this operation"]],
        causes: "the storage (or registry) firewall rejects the node's address; the request took the public path",
        checks: &["storage-blob-443", "storage-file-443", "storage-queue-443", "storage-table-443", "storage-dfs-443"],
        reasons: &[
            (StorageFirewallDenied, "the account's firewall answers AuthorizationFailure to this node"),
            (DnsPublicAddress, "the account resolves to its public address, so its private endpoint is not used"),
        ],
        note: "",
    },
    Message {
        text: "AllocationFailed / Desired number of dedicated nodes could not be allocated",
        keys: &[&["AllocationFailed"], &["nodes could not be allocated"]],
        causes: "Batch node management traffic blocked by an NSG, firewall or route; a delegated subnet; quota, which is not the network",
        checks: &["batch"],
        reasons: &[
            (TcpTimeout, "Batch node management is dropped; with a public IP, a route to a firewall (forced tunnelling) is the usual cause"),
            (TcpRefused, "something on the path resets Batch's port"),
            (DnsNxdomain, "Batch's name does not resolve here"),
            (StandInUnresolvable, "the stand-in for Batch's names does not resolve: the result is not a verdict on the node"),
        ],
        note: "when every check passes, the network is not the cause: check the quota (az ml compute list-usage) and that the subnet is not delegated to another service",
    },
    Message {
        text: "Node state Unusable, no error code",
        keys: &[&["Unusable"]],
        causes: "as for AllocationFailed, and the node-management private endpoint's DNS",
        checks: &["batch"],
        reasons: &[
            (TcpTimeout, "Batch node management is dropped"),
            (DnsPublicAddress, "*.service.batch.azure.com answers public where its privatelink.batch.azure.com record was expected"),
            (DnsNoPrivatelink, "the name resolves without going through privatelink.batch.azure.com"),
        ],
        note: "",
    },
    Message {
        text: "WebSocket close with status code 1006 / Could not fetch remote environment",
        keys: &[&["WebSocket close with status code 1006"], &["status code 1006"], &["Could not fetch remote environment"]],
        causes: "a proxy or firewall strips the WebSocket upgrade; the compute instance's name does not resolve; ports 8787, 18881, 8704-8710 or 8887 blocked",
        checks: &["instances-*", "pe-compute-instance", "vscode-instance-*"],
        reasons: &[
            (WsNotUpgraded, "the upgrade to WebSocket is refused or stripped on the way"),
            (DnsNxdomain, "the instance's name does not resolve"),
            (DnsPublicAddress, "the instance's name answers public where the private endpoint was expected"),
            (TcpTimeout, "one of the instance's ports (8787, 18881, 8704-8710, 8887) is dropped"),
            (TcpRefused, "one of the instance's ports is reset"),
        ],
        note: "these checks need --compute-name (a compute instance sets it)",
    },
    Message {
        text: "Downloading VS Code server failed / 0-byte vscode-server.tar.gz",
        keys: &[&["Downloading VS Code server failed"], &["vscode-server.tar.gz"], &["VS Code server", "failed"]],
        causes: "no egress to the VS Code hosts; TLS inspection; an intrusion-detection system stalling large downloads",
        checks: &["vscode-update-443", "vscode-download-443", "vscode-marketplace-443", "vscode-blob-443", "instances-443"],
        reasons: &[
            (FirewallDenied, "an egress firewall refuses a VS Code host by name"),
            (TransferStalled, "the download starts and then stops: an inspecting firewall, IDPS or proxy cuts it (the 0-byte vscode-server.tar.gz)"),
            (TlsIntercepted, "a TLS-inspecting firewall re-signs traffic, which the VS Code server download fails on"),
            (WsNotUpgraded, "the remote connection to the instance loses its WebSocket upgrade"),
            (MtuBlackhole, "packets larger than a VPN or ExpressRoute tunnel allows vanish: handshakes and downloads stall"),
        ],
        note: "these are the vscode scenario's checks: --run turns it on",
    },
    Message {
        text: "request to …:8710/runVscodeCommand failed, reason: connect ETIMEDOUT",
        keys: &[&["runVscodeCommand"], &["8710", "ETIMEDOUT"]],
        causes: "the instance's VS Code ports (8704-8710, and 8887 for the exec server) are dropped between the client's path and the instance, or its name answers the wrong address",
        checks: &["vscode-instance-*", "pe-compute-instance"],
        reasons: &[
            (TcpTimeout, "the port is dropped: an NSG or firewall rule lacks 8704-8710 or 8887"),
            (TcpRefused, "the port is reset"),
            (DnsPublicAddress, "the instance's name answers public where the workspace private endpoint was expected"),
        ],
        note: "these checks need --compute-name (a compute instance sets it); --run turns on the vscode scenario",
    },
    Message {
        text: "407 Proxy Authentication Required",
        keys: &[&["407 Proxy Authentication Required"], &["Proxy Authentication Required"]],
        causes: "a proxy that asks for credentials, which Azure ML's services on the node do not send",
        checks: &["workspace-api-443", "entra-443", "arm-443", "mcr-443", "storage-blob-443"],
        reasons: &[
            (ProxyDenied, "the proxy refuses the CONNECT (407 asks for credentials)"),
            (ProxyRefused, "the proxy itself cannot be reached"),
        ],
        note: "give the proxy with --proxy, or set HTTPS_PROXY as the node does",
    },
    Message {
        text: "CERTIFICATE_VERIFY_FAILED / unable to get local issuer certificate / tls: handshake failure",
        keys: &[
            &["CERTIFICATE_VERIFY_FAILED"],
            &["unable to get local issuer certificate"],
            &["self signed certificate in certificate chain"],
            &["tls: handshake failure"],
        ],
        causes: "TLS inspection: a firewall or proxy re-signs traffic with its own certificate authority",
        checks: &["workspace-api-443", "entra-443", "arm-443", "mcr-443", "pypi-443", "storage-blob-443"],
        reasons: &[
            (TlsIntercepted, "the chain ends at another authority than Microsoft's or DigiCert's; the message names the interceptor"),
            (TlsUntrusted, "the chain is trusted by no root this node knows"),
            (TlsNameMismatch, "the certificate is for another name"),
            (TlsHandshakeFailed, "the handshake was cut off"),
        ],
        note: "",
    },
    Message {
        text: "SSL_ERROR_SYSCALL / EOF occurred in violation of protocol / Connection reset by peer / PR_END_OF_FILE_ERROR / The TLS connection was not properly terminated",
        keys: &[
            &["SSL_ERROR_SYSCALL"],
            &["EOF occurred in violation of protocol"],
            &["Connection reset by peer"],
            &["PR_END_OF_FILE_ERROR"],
            &["Encountered end of file"],
            &["TLS connection was not properly terminated"],
        ],
        causes: "an egress firewall's application rules refuse the name: Azure Firewall reads the server name from the ClientHello and closes (or resets) the connection without a TLS byte; less often a proxy that refuses the name, or a server that fails",
        checks: &["workspace-api-443", "graph-443", "entra-443", "entra-80", "arm-443", "mcr-443", "storage-blob-443", "pypi-443"],
        reasons: &[
            (FirewallDenied, "the firewall refused the name: the check names the application rule it needs"),
            (TlsHandshakeFailed, "the handshake failed after the server answered: not a firewall's refusal"),
            (TcpRefused, "the connection was reset before it opened: a firewall or NSG rejects the port"),
        ],
        note: "the host in the message names the check to look at (amlprobe list shows each check's host); a reset between the nodes of one job (NCCL, Gloo) is amlprobe mesh's to tell",
    },
    Message {
        text: "HTTP 470 status code 470 / Action: Deny. Reason: No rule matched",
        keys: &[&["470 status code 470"], &["Action: Deny"]],
        causes: "Azure Firewall's application rules deny the name (no rule matched: the default action), over HTTP or inside a TLS session it inspects",
        checks: &["workspace-api-443", "graph-443", "entra-443", "entra-80", "arm-443", "mcr-443", "storage-blob-443", "pypi-443"],
        reasons: &[(FirewallDenied, "the firewall answered 470: the check names the application rule it needs")],
        note: "",
    },
    Message {
        text: "lookup … on 168.63.129.16:53: no such host",
        keys: &[&["no such host"]],
        causes: "the name does not exist, or is mistyped (Azure DNS answered NXDOMAIN)",
        checks: &["azureml", "storage", "private-endpoint"],
        reasons: &[
            (DnsNxdomain, "the resolver answered that the name does not exist"),
            (DnsServfail, "the resolver failed (a broken forwarder or zone), which Go also reports this way"),
            (DnsTimeout, "the resolver did not answer"),
            (DnsNoRecords, "the name exists, with no address"),
        ],
        note: "",
    },
    Message {
        text: "Access to workspace was denied based on workspace private link configuration.",
        keys: &[&["denied based on workspace private link configuration"]],
        causes: "the request reached the workspace's public endpoint, so private link refused it",
        checks: &["pe-workspace-*", "workspace-api-pe-443"],
        reasons: &[
            (DnsPublicAddress, "the workspace's name answers its public address on this node"),
            (DnsNoPrivatelink, "the name resolves without going through privatelink.api.azureml.ms"),
            (DnsPrivateMismatch, "the workspace's names resolve to different private endpoints"),
        ],
        note: "these checks need --workspace-id",
    },
    Message {
        text: "denied: client with IP '<ip>' is not allowed access (ACR)",
        keys: &[&["client with IP", "is not allowed access"]],
        causes: "the container registry's firewall rejects the node; the registry was reached over its public path",
        checks: &["acr-443", "pe-acr"],
        reasons: &[
            (RegistryFirewallDenied, "the registry's own firewall answers this node 403 \"client with IP … is not allowed access\""),
            (DnsPublicAddress, "the registry's name answers public where its private endpoint was expected"),
            (DnsNoPrivatelink, "the registry's name resolves without going through privatelink.azurecr.io"),
        ],
        note: "these checks need --acr NAME, the workspace's registry",
    },
    Message {
        text: "AcrRefreshTokenRetrievalError … lookup <acr>.azurecr.io … no such host",
        keys: &[&["AcrRefreshTokenRetrievalError"]],
        causes: "the node cannot resolve the workspace's registry: a private endpoint's privatelink.azurecr.io zone not linked to this VNet, or a custom DNS server that does not forward it",
        checks: &["registry"],
        reasons: &[
            (DnsNxdomain, "the registry's name (or its data endpoint's) does not resolve here"),
            (DnsPublicAddress, "the registry's name answers public where its private endpoint was expected"),
            (DnsServfail, "the resolver failed on the registry's name"),
            (DnsTimeout, "the resolver did not answer"),
        ],
        note: "these checks need --acr NAME, the workspace's registry",
    },
    Message {
        text: "ImageBuildComputeNotValid",
        keys: &[&["ImageBuildComputeNotValid"]],
        causes: "the workspace's registry is private and no compute is set to build images; a configuration, not a path on the network",
        checks: &[],
        reasons: &[],
        note: "set a compute cluster for image builds (az ml workspace update --image-build-compute NAME): https://learn.microsoft.com/azure/machine-learning/how-to-secure-workspace-vnet#enable-azure-container-registry-acr",
    },
    Message {
        text: "…:16384/… connect: connection refused",
        keys: &[&["connect: connection refused"]],
        causes: "an NSG rule inside the subnet refuses traffic between the job's nodes",
        checks: &[],
        reasons: &[
            (TcpRefused, "a peer's port is reset"),
            (TcpTimeout, "a peer's port is dropped"),
            (PeerAbsent, "a listed peer never answered"),
        ],
        note: "run amlprobe mesh on every node of the job (packaging/azureml/mesh-job.yml), then amlprobe merge the nodes' reports",
    },
    Message {
        text: "Socket Timeout Exception (c10d/NCCL)",
        keys: &[&["SocketTimeoutException"], &["Socket Timeout"], &["c10d", "timed out"]],
        causes: "the ports the job's nodes connect to each other on are blocked",
        checks: &[],
        reasons: &[
            (TcpTimeout, "a peer's port is dropped"),
            (TcpRefused, "a peer's port is reset"),
            (PeerAbsent, "a listed peer never answered"),
        ],
        note: "run amlprobe mesh on every node of the job (packaging/azureml/mesh-job.yml), then amlprobe merge the nodes' reports",
    },
];

/// Text as it is compared: words of ASCII letters and digits, lower case, each followed by one
/// space. Case, spacing, punctuation, quotes and an ellipsis from a log all fall away, and a
/// phrase matches whole words only (`Unusable` is not found in `usable`).
pub fn folded(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for word in s
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        out.push_str(&word.to_ascii_lowercase());
        out.push(' ');
    }
    out
}

impl Message {
    /// Where in `text` (already folded) the message is recognised, if it is.
    fn found_at(&self, text: &str) -> Option<usize> {
        self.keys
            .iter()
            .filter_map(|all| {
                let at: Option<Vec<usize>> =
                    all.iter().map(|k| word_at(text, &folded(k))).collect();
                at.map(|at| at.into_iter().min().unwrap_or(0))
            })
            .min()
    }

    /// The reason codes that would explain this message.
    pub fn explains(&self, reason: Reason) -> bool {
        self.reasons.iter().any(|(r, _)| *r == reason)
    }
}

/// Where the folded phrase `key` starts a word of the folded `text`.
fn word_at(text: &str, key: &str) -> Option<usize> {
    if key.is_empty() {
        return None;
    }
    text.match_indices(key)
        .map(|(at, _)| at)
        .find(|&at| at == 0 || text.as_bytes()[at - 1] == b' ')
}

/// The messages recognised in pasted text, in the order they appear in it.
pub fn matching(text: &str) -> Vec<&'static Message> {
    let text = folded(text);
    let mut found: Vec<(usize, &Message)> = MESSAGES
        .iter()
        .filter_map(|m| m.found_at(&text).map(|at| (at, m)))
        .collect();
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, m)| m).collect()
}

/// The known messages most like `text`, closest first: how many of the text's letter pairs
/// each message's recognised phrases share (Dice's coefficient).
pub fn closest(text: &str, n: usize) -> Vec<&'static Message> {
    let asked = pairs(&folded(text).replace(' ', ""));
    let mut scored: Vec<(u32, &Message)> = MESSAGES
        .iter()
        .map(|m| {
            let best = m
                .keys
                .iter()
                .map(|all| dice(&asked, &pairs(&folded(&all.concat()).replace(' ', ""))))
                .fold(0.0_f64, f64::max);
            ((best * 1000.0) as u32, m)
        })
        .collect();
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    scored.into_iter().take(n).map(|(_, m)| m).collect()
}

fn pairs(s: &str) -> Vec<[u8; 2]> {
    let mut p: Vec<[u8; 2]> = s.as_bytes().windows(2).map(|w| [w[0], w[1]]).collect();
    p.sort_unstable();
    p
}

/// Dice's coefficient over two sorted lists of letter pairs, counting repeats.
fn dice(a: &[[u8; 2]], b: &[[u8; 2]]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    2.0 * shared as f64 / (a.len() + b.len()) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    /// The message `pasted` is recognised as, alone, in upper and lower case, with its
    /// punctuation changed, and inside a log line.
    fn recognised(pasted: &str, want: &str) {
        let variants = [
            pasted.to_string(),
            pasted.to_uppercase(),
            pasted.to_lowercase(),
            pasted.replace([':', '.', '\'', '(', ')'], " "),
            format!("2026-11-20T10:01:02.123Z ERROR [job 7f3a] {pasted}\n  at line 42 -- retrying"),
        ];
        for text in variants {
            let found: Vec<&str> = matching(&text).iter().map(|m| m.text).collect();
            assert_eq!(found, [want], "{text:?}");
        }
    }

    /// One test per string of the field reports' list of what users paste.
    macro_rules! appendix_a {
        ($($name:ident: $pasted:expr => $want:expr;)*) => {
            $(#[test] fn $name() { recognised($pasted, $want); })*
        };
    }

    const STORAGE_MOUNT: &str = "StorageMountError … allow outbound connection to ports 443, 445 for storage service tag … aka.ms/AMLComputeVnet";
    const ALLOCATION: &str =
        "AllocationFailed / Desired number of dedicated nodes could not be allocated";
    const WEBSOCKET: &str =
        "WebSocket close with status code 1006 / Could not fetch remote environment";
    const VSCODE: &str = "Downloading VS Code server failed / 0-byte vscode-server.tar.gz";
    const CERTIFICATE: &str = "CERTIFICATE_VERIFY_FAILED / unable to get local issuer certificate / tls: handshake failure";
    const AUTHORIZATION: &str =
        "This request is not authorized to perform this operation. (AuthorizationFailure)";
    const SOCKET_TIMEOUT: &str = "Socket Timeout Exception (c10d/NCCL)";
    const FIREWALL_CLOSE: &str = "SSL_ERROR_SYSCALL / EOF occurred in violation of protocol / Connection reset by peer / PR_END_OF_FILE_ERROR / The TLS connection was not properly terminated";
    const FIREWALL_470: &str = "HTTP 470 status code 470 / Action: Deny. Reason: No rule matched";

    appendix_a! {
        storage_mount_error: "StorageMountError: Failed to mount storage. Please allow outbound connection to ports 443, 445 for storage service tag. See https://aka.ms/AMLComputeVnet" => STORAGE_MOUNT;
        storage_mount_error_without_its_name: "please allow outbound connection to ports 443, 445 for storage service tag" => STORAGE_MOUNT;
        allocation_failed: "AllocationFailed" => ALLOCATION;
        dedicated_nodes_not_allocated: "Desired number of dedicated nodes could not be allocated due to a stockout or a network issue" => ALLOCATION;
        unusable: "Node state: Unusable" => "Node state Unusable, no error code";
        websocket_1006: "WebSocket close with status code 1006" => WEBSOCKET;
        remote_environment: "Could not fetch remote environment" => WEBSOCKET;
        vscode_server_download: "Downloading VS Code server failed. Please try again later." => VSCODE;
        vscode_server_empty: "tar: vscode-server.tar.gz: Cannot open: unexpected EOF (0 bytes)" => VSCODE;
        proxy_407: "HTTP/1.1 407 Proxy Authentication Required" => "407 Proxy Authentication Required";
        certificate_verify_failed: "ssl.SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed" => CERTIFICATE;
        local_issuer: "curl: (60) SSL certificate problem: unable to get local issuer certificate" => CERTIFICATE;
        tls_handshake_failure: "remote error: tls: handshake failure" => CERTIFICATE;
        no_such_host: "dial tcp: lookup ws1.blob.core.windows.net on 168.63.129.16:53: no such host" => "lookup … on 168.63.129.16:53: no such host";
        private_link_denied: "Access to workspace was denied based on workspace private link configuration." => "Access to workspace was denied based on workspace private link configuration.";
        not_authorized: "This request is not authorized to perform this operation." => AUTHORIZATION;
        authorization_failure: "ErrorCode: AuthorizationFailure" => AUTHORIZATION;
        acr_client_ip: "denied: client with IP '20.1.2.3' is not allowed access. Refer https://aka.ms/acr/firewall" => "denied: client with IP '<ip>' is not allowed access (ACR)";
        run_vscode_command: "request to https://ci-one.westeurope.nodes.azureml.ms:8710/runVscodeCommand failed, reason: connect ETIMEDOUT 10.0.0.4:8710" => "request to …:8710/runVscodeCommand failed, reason: connect ETIMEDOUT";
        image_build_compute: "ImageBuildComputeNotValid: the workspace's container registry is behind a virtual network" => "ImageBuildComputeNotValid";
        mount_error_115: "mount error(115): Operation now in progress" => "mount error(115): Operation now in progress";
        nccl_connection_refused: "dial tcp 10.0.0.5:16384: connect: connection refused" => "…:16384/… connect: connection refused";
        socket_timeout: "torch.distributed.DistNetworkError: Socket Timeout" => SOCKET_TIMEOUT;
        socket_timeout_exception: "java.net.SocketTimeoutException: connect timed out" => SOCKET_TIMEOUT;
        ssl_error_syscall: "curl: (35) OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to graph.windows.net:443" => FIREWALL_CLOSE;
        python_eof: "ssl.SSLEOFError: EOF occurred in violation of protocol (_ssl.c:1007)" => FIREWALL_CLOSE;
        go_reset: "read tcp 172.20.44.4:59950->34.232.31.24:443: read: connection reset by peer" => FIREWALL_CLOSE;
        nss_eof: "NSS error -5938 (PR_END_OF_FILE_ERROR)" => FIREWALL_CLOSE;
        nss_end_of_file: "curl: (35) Encountered end of file" => FIREWALL_CLOSE;
        gnutls_not_terminated: "Could not handshake: The TLS connection was not properly terminated. [IP: 52.230.121.169 443]" => FIREWALL_CLOSE;
        status_470: "E: Failed to fetch http://security.ubuntu.com/ubuntu/dists/focal/InRelease 470 status code 470 [IP: 23.101.248.31 80]" => FIREWALL_470;
        action_deny: "Action: Deny. Reason: No rule matched. Proceeding with default action." => FIREWALL_470;
    }

    /// The registry's token error quotes a failed lookup: both messages are named, the
    /// registry's first.
    #[test]
    fn a_registry_token_error_names_the_registry_and_the_lookup() {
        let log = "AcrRefreshTokenRetrievalError: Get \"https://myacr.azurecr.io/oauth2/exchange\": dial tcp: lookup myacr.azurecr.io on 168.63.129.16:53: no such host";
        let found: Vec<&str> = matching(log).iter().map(|m| m.text).collect();
        assert_eq!(
            found,
            [
                "AcrRefreshTokenRetrievalError … lookup <acr>.azurecr.io … no such host",
                "lookup … on 168.63.129.16:53: no such host"
            ]
        );
    }

    #[test]
    fn a_log_with_two_messages_names_both_in_its_order() {
        let log = "mount error(115): Operation now in progress\nStorageMountError: giving up";
        let found: Vec<&str> = matching(log).iter().map(|m| m.text).collect();
        assert_eq!(
            found,
            ["mount error(115): Operation now in progress", STORAGE_MOUNT]
        );
    }

    #[test]
    fn unknown_text_matches_nothing_and_has_close_messages() {
        assert!(matching("the weather is fine").is_empty());
        // Whole words only: a phrase inside another word is not the message.
        assert!(matching("we can run usable jobs").is_empty());
        assert!(matching("StorageMountErrors").is_empty());
        assert!(matching("").is_empty());
        assert!(matching("…!?").is_empty());
        let close = |text: &str| closest(text, 3)[0].text;
        assert_eq!(close("StorageMountErr"), STORAGE_MOUNT);
        assert_eq!(close("AlocationFailed"), ALLOCATION);
        assert_eq!(close("certificate verify fail"), CERTIFICATE);
        assert_eq!(closest("", 3).len(), 3);
    }

    /// Every message's checks exist in the built-in catalog, so `--run` never runs nothing it
    /// promised; each message says what to look for, or what to do instead.
    #[test]
    fn every_message_names_real_checks_and_what_to_look_for() {
        let entries = catalog::load(&[]).unwrap();
        for m in MESSAGES {
            for c in m.checks {
                let only = [c.to_string()];
                assert!(
                    entries.iter().any(|e| e.selected(&only, &[])),
                    "{}: {c} selects no built-in check",
                    m.text
                );
            }
            assert!(!m.keys.is_empty() && m.keys.iter().all(|k| !k.is_empty()));
            for all in m.keys {
                let letters = |k: &str| folded(k).replace(' ', "").len();
                let long: usize = all.iter().map(|k| letters(k)).sum();
                assert!(
                    long >= 8 && all.iter().all(|k| letters(k) >= 4),
                    "{}: {all:?} is too short to trust",
                    m.text
                );
            }
            assert!(
                matching(m.text).iter().any(|f| f.text == m.text),
                "{} does not match itself",
                m.text
            );
            assert!(!m.reasons.is_empty() || !m.note.is_empty(), "{}", m.text);
            assert!(!m.checks.is_empty() || !m.note.is_empty(), "{}", m.text);
        }
    }
}
