//! The REST transport of [`KubeflowRegistry`]: the API base (found once), requests with their retry
//! policy, and the reads and the write every operation is built from.

use super::*;

impl KubeflowRegistry {
    pub(super) fn root(&self) -> String {
        self.options.url.as_str().trim_end_matches('/').to_owned()
    }

    /// `<url>/api/model_registry/<version>`, found once.
    pub(super) async fn api_base(&self) -> Result<&str, RegistryError> {
        self.api_base
            .get_or_try_init(|| async {
                let candidates: Vec<String> = match &self.options.api_version {
                    Some(version) => vec![version.clone()],
                    None => API_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
                };
                for version in &candidates {
                    let base = format!("{}/api/model_registry/{version}", self.root());
                    let url = self.url(&base, "registered_models", &[("pageSize", "1")])?;
                    let probe: Answer<Value> = self
                        .get(&format!("looking for the {version} API"), url)
                        .await?;
                    if let Answer::Found(_) = probe {
                        tracing::debug!("using {base}");
                        return Ok(base);
                    }
                }
                Err(RegistryError::NoApi {
                    url: display_url(&self.options.url),
                    tried: candidates
                        .iter()
                        .map(|v| format!("/api/model_registry/{v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            })
            .await
            .map(String::as_str)
    }

    pub(super) fn url(
        &self,
        base: &str,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Url, RegistryError> {
        rest::endpoint("registry URL", base, path, query)
    }

    /// One request with retries; 404 is an answer (not found), 401/403 name the missing role.
    pub(super) async fn send<T: DeserializeOwned>(
        &self,
        action: &str,
        method: reqwest::Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Answer<T>, RegistryError> {
        self.send_with(&self.options.retry, action, method, url, body)
            .await
    }

    /// [`KubeflowRegistry::send`] with its own retry policy.
    pub(super) async fn send_with<T: DeserializeOwned>(
        &self,
        policy: &RetryPolicy,
        action: &str,
        method: reqwest::Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Answer<T>, RegistryError> {
        retry_async(policy, action, |_| {
            let (method, url) = (method.clone(), url.clone());
            async move {
                let token = self.options.token.as_ref();
                let response = rest::send(&self.http, token, action, method, &url, body).await?;
                match response.status().as_u16() {
                    401 | 403 => {
                        let status = response.status().as_u16();
                        let detail = response.text().await.unwrap_or_default();
                        let role = format!("registry-user-{}", self.registry_name());
                        Err(RegistryError::Unauthorized {
                            action: action.to_owned(),
                            registry: self.describe(),
                            status,
                            role,
                            token_origin: self.options.token_origin.clone(),
                            detail: detail.trim().chars().take(200).collect(),
                        })
                    }
                    404 => Ok(Answer::NotFound),
                    _ => rest::json_answer(action, &url, response)
                        .await
                        .map(Answer::Found),
                }
            }
        })
        .await
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        action: &str,
        url: Url,
    ) -> Result<Answer<T>, RegistryError> {
        self.send(action, reqwest::Method::GET, url, None).await
    }

    pub(super) async fn get_version(&self, id: &str) -> Result<RawVersion, RegistryError> {
        let base = self.api_base().await?;
        let url = self.url(base, &format!("model_versions/{id}"), &[])?;
        match self
            .get(&format!("reading model version {id}"), url.clone())
            .await?
        {
            Answer::Found(version) => Ok(version),
            Answer::NotFound => Err(RegistryError::Decode {
                action: format!("reading model version {id}"),
                url: display_url(&url),
                detail: "the version disappeared (404) while it was being labelled".into(),
            }),
        }
    }

    /// A write of one entity (no customProperties map involved, so a retry cannot undo another writer's
    /// change). A 404 is an error naming what was missing.
    pub(super) async fn write(
        &self,
        action: &str,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, RegistryError> {
        let base = self.api_base().await?;
        let url = self.url(base, path, &[])?;
        match self.send(action, method, url.clone(), Some(body)).await? {
            Answer::Found(value) => Ok(value),
            Answer::NotFound => Err(RegistryError::Decode {
                action: action.to_owned(),
                url: display_url(&url),
                detail: "not found (404)".into(),
            }),
        }
    }

    /// The version's model artifacts (`artifactType: model-artifact`), oldest first.
    pub(super) async fn model_artifacts(
        &self,
        version_id: &str,
    ) -> Result<Vec<RawArtifact>, RegistryError> {
        let path = format!("model_versions/{version_id}/artifacts");
        let all: Vec<RawArtifact> = self
            .list_all(
                &path,
                &format!("listing the artifacts of model version {version_id}"),
            )
            .await?;
        let mut models: Vec<RawArtifact> = all
            .into_iter()
            .filter(|a| a.artifact_type == "model-artifact")
            .collect();
        models.sort_by_key(|a| a.id.parse::<u64>().unwrap_or(u64::MAX));
        Ok(models)
    }

    pub(super) async fn list_raw_versions(
        &self,
        model: &RegisteredModel,
    ) -> Result<Vec<RawVersion>, RegistryError> {
        let path = format!("registered_models/{}/versions", model.id);
        let action = format!("listing versions of model {}", model.name);
        self.list_all(&path, &action).await
    }

    /// Every item of a paged list (`pageSize`, then `nextPageToken` until it is empty). A list that is
    /// not there (404) is empty.
    pub(super) async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        action: &str,
    ) -> Result<Vec<T>, RegistryError> {
        let base = self.api_base().await?;
        let page_size = self.options.page_size.to_string();
        let mut items = Vec::new();
        let mut token = String::new();
        loop {
            let mut query = vec![("pageSize", page_size.as_str())];
            if !token.is_empty() {
                query.push(("nextPageToken", token.as_str()));
            }
            let url = self.url(base, path, &query)?;
            let Answer::Found(page) = self.get::<RawList<T>>(action, url).await? else {
                return Ok(items);
            };
            let count = page.items.len();
            items.extend(page.items);
            match page.next_page_token.filter(|t| !t.is_empty()) {
                // A server that hands out a token with an empty page would loop forever.
                Some(next) if count > 0 && next != token => token = next,
                _ => return Ok(items),
            }
        }
    }
}
