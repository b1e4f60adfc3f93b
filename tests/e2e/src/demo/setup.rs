//! Steps 1 to 5: what the demo runs is there, the servers are up, and the cluster's Secrets and
//! ConfigMap are written as tekton/README.md creates them.

use super::*;

pub(super) fn set_up(
    options: &Options,
    steps: &mut Steps,
    servers: &mut Servers,
) -> Result<Flow, Failure> {
    let run_dir = &options.run_dir;

    // 1. Everything the demo runs is there.
    let (manifests, harness) = steps.run(|log| {
        for tool in [
            "modelcar-build",
            "gitops-bump",
            "pr-create",
            "registry-label",
            "model-trace",
        ] {
            log.write(&format!("{tool}: {}", workspace_bin(tool).display()));
        }
        for server in ["gitea", "model-registry", "tekton-harness"] {
            log.write(&format!(
                "{server}: {}",
                test_services::go_server_bin(server).display()
            ));
        }
        for (tool, package) in [
            ("docker-registry", "docker-registry"),
            ("lighttpd", "lighttpd"),
            ("skopeo", "skopeo"),
            ("busybox", "busybox-static"),
            ("mariadbd", "mariadb-server-core"),
            ("git", "git"),
        ] {
            log.write(&format!(
                "{tool}: {}",
                require_tool(tool, package).display()
            ));
        }
        let manifests = Manifests::load(&crate::tekton_dir()).map_err(|e| e.to_string())?;
        log.say(&format!(
            "tekton/: {} Tasks, {} Pipelines, {} Triggers",
            manifests.tasks.len(),
            manifests.pipelines.len(),
            manifests.triggers.len()
        ));
        Ok((manifests, Harness::get()))
    })?;

    // 2. The image registry, and the base image with a shell in it (a mirror, as a cluster that
    //    cannot reach registry.access.redhat.com has one).
    let (registry_host, base_image, registry_cert_dir) = steps.run(|log| {
        servers.registry_password = format!("registry-{}", random_hex(8));
        let registry = Registry::start_tls_with_auth(REGISTRY_USER, &servers.registry_password);
        let host = registry.host();
        let cert_dir = run_dir.join("registry-ca");
        std::fs::create_dir_all(&cert_dir).map_err(|e| e.to_string())?;
        std::fs::copy(registry.ca_pem().unwrap(), cert_dir.join("ca.crt"))
            .map_err(|e| e.to_string())?;
        log.say(&format!(
            "{} (user {REGISTRY_USER}; its CA: {})",
            registry.url(),
            cert_dir.join("ca.crt").display()
        ));
        // The layout's one image is tagged `latest`, so that `--base oci:<run dir>/base-layout`
        // finds it (README's "Build one ModelCar by hand").
        let layout = run_dir.join("base-layout");
        busybox_layout(
            &layout,
            "latest",
            BaseOptions {
                entrypoint: None,
                shell: true,
            },
        );
        let base = format!("{host}/mirror/busybox:{}", busybox_version());
        let access = RegistryAccess {
            user: REGISTRY_USER,
            password: &servers.registry_password,
            cert_dir: cert_dir.clone(),
        };
        crate::base_image::push_layout(&layout, "latest", &base, &access);
        log.say(&format!(
            "base image {base} (Debian's busybox-static, /bin/sh), {}",
            crate::base_image::registry_digest(&base, &access)
        ));
        servers.registry = Some(registry);
        Ok((host, base, cert_dir))
    })?;

    // 3. Gitea.
    steps.run(|log| {
        let gitea = Gitea::start();
        log.say(&format!(
            "{} (version {})",
            gitea.url(),
            gitea.api("GET", "/version", None).body["version"]
                .as_str()
                .unwrap_or("?")
        ));
        gitea.create_org(ORG);
        log.say(&format!("organisation {ORG}"));
        servers.gitea = Some(gitea);
        Ok(())
    })?;

    // 4. The Kubeflow Model Registry.
    steps.run(|log| {
        let model_registry = ModelRegistry::start();
        log.say(&model_registry.api_url());
        servers.model_registry = Some(model_registry);
        Ok(())
    })?;

    // 5. Routes and the cluster's objects.
    let flow = steps.run(|log| {
        let gitea = servers.gitea.as_ref().unwrap();
        let model_registry = servers.model_registry.as_ref().unwrap();
        let registry = servers.registry.as_ref().unwrap();
        let route_certs = Certs::generate(&[]);
        let routes = TlsProxy::start(&route_certs, &[&gitea.host(), &model_registry.host()]);
        let (gitea_route, model_registry_route) = (routes.url(0), routes.url(1));
        log.say(&format!("Gitea          {gitea_route}"));
        log.say(&format!("Model Registry {model_registry_route}"));
        servers.routes = Some(routes);

        let mut cluster = LocalCluster::new(&run_dir.join("tekton"));
        // The ConfigMap trusted-ca (tekton/setup): the routes' CA and the image registry's.
        let mut bundle = std::fs::read_to_string(&route_certs.ca_pem).map_err(|e| e.to_string())?;
        bundle.push_str(
            &std::fs::read_to_string(registry.ca_pem().unwrap()).map_err(|e| e.to_string())?,
        );
        cluster.add_config_map("trusted-ca", "ca-bundle.crt", &bundle);
        // tekton/README.md's Secrets: the registry's credentials, the git and forge tokens (a Gitea
        // token), the webhook secret the Triggers check signatures with.
        cluster.add_secret(
            "registry-credentials",
            ".dockerconfigjson",
            &dockerconfigjson(&registry.host(), REGISTRY_USER, &servers.registry_password),
        );
        cluster.add_secret("git-token", "token", gitea.token());
        cluster.add_secret("forge-token", "token", gitea.token());
        let webhook_secret = random_hex(WEBHOOK_SECRET_BYTES);
        cluster.add_secret("webhook-secret", "token", &webhook_secret);
        // No model-registry-token: the Model Registry here has no authentication of its own.
        for (name, keys) in &cluster.secrets {
            log.say(&format!(
                "Secret {name} ({})",
                keys.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        log.say("ConfigMap trusted-ca (ca-bundle.crt)");
        cluster.on_task = Some(Box::new(|task, task_ref| {
            eprintln!("        task {task} (Task {task_ref})");
        }));
        let binding = |name: &str, secret: Option<Value>, config_map: Option<Value>| {
            crate::manifests::RunWorkspaceBinding {
                name: name.to_string(),
                persistent_volume_claim: None,
                secret,
                config_map,
                empty_dir: None,
                volume_claim_template: None,
            }
        };
        let dockerconfig_dir = cluster.workspace_folder(&binding(
            "dockerconfig",
            Some(json!({"secretName": "registry-credentials"})),
            None,
        ))?;
        let git_token_dir = cluster.workspace_folder(&binding(
            "git-token",
            Some(json!({"secretName": "git-token"})),
            None,
        ))?;
        let trusted_ca_dir = cluster.workspace_folder(&binding(
            "ssl-ca-directory",
            None,
            Some(json!({"name": "trusted-ca"})),
        ))?;
        Ok(Flow {
            manifests,
            harness,
            receiver: WebhookReceiver::start(),
            webhook_secret,
            gitea_route,
            model_registry_route,
            registry_host: registry_host.clone(),
            registry_password: servers.registry_password.clone(),
            registry_cert_dir: registry_cert_dir.clone(),
            base_image: base_image.clone(),
            dockerconfig_dir,
            git_token_dir,
            trusted_ca_dir,
            cluster,
            source_commit: String::new(),
            version_id: String::new(),
        })
    })?;
    Ok(flow)
}
