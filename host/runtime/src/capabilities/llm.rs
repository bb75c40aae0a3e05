//! The `llm` capability: chat and embeddings on the configured model, for
//! skills granted `llm: true`. Every prompt that reaches a model is audited
//! as digests of what was asked and answered, never the text.

use std::sync::Arc;

use sc_core::CapabilityError;
use sc_core::anonymize::Anonymizer;

use sc_core::llm::{ChatOptions, ChatResponse, LlmBackend, Message, Role};
use sc_state::audit::AuditEvent;

use super::CallContext;
use crate::bindings::securityclaw::skill::llm as wit;
use crate::error::CallError;

/// Per-call state of `llm`.
pub struct LlmState {
    call: Arc<CallContext>,
    backend: Arc<dyn LlmBackend>,
}

impl LlmState {
    /// State for one run.
    pub fn new(call: Arc<CallContext>, backend: Arc<dyn LlmBackend>) -> Self {
        Self { call, backend }
    }
}

fn role(role: wit::Role) -> Result<Role, CapabilityError> {
    match role {
        wit::Role::System => Ok(Role::System),
        wit::Role::User => Ok(Role::User),
        wit::Role::Assistant => Ok(Role::Assistant),
        wit::Role::Other(name) => Err(CapabilityError::InvalidInput(format!(
            "role `{name}` is not one this host knows (system, user, assistant)"
        ))),
    }
}

/// The digest the trail keeps of a prompt: over the roles' names and the
/// texts, in a form that does not change with the bindings' types.
fn prompt_digest(messages: &[Message]) -> String {
    let prompt: Vec<(&str, &str)> = messages
        .iter()
        .map(|m| (m.role.as_str(), m.content.as_str()))
        .collect();
    sc_core::digest(
        serde_json::to_string(&prompt)
            .unwrap_or_default()
            .as_bytes(),
    )
}

impl wit::Host for LlmState {
    async fn chat(
        &mut self,
        messages: Vec<wit::Message>,
        options: wit::ChatOptions,
    ) -> Result<wit::ChatResponse, CallError> {
        self.call.charge()?;
        self.call.grants.llm()?;
        if messages.is_empty() {
            return Err(CapabilityError::InvalidInput(
                "a chat needs at least one message".to_owned(),
            )
            .into());
        }
        let messages = messages
            .into_iter()
            .map(|m| Ok(Message::new(role(m.role)?, m.content)))
            .collect::<Result<Vec<_>, CapabilityError>>()?;
        let options = ChatOptions {
            temperature: options.temperature,
            max_tokens: options.max_tokens,
            json_mode: options.json_mode,
            json_schema: options.json_schema,
        };
        // Identifying values leave as placeholders and come back in the
        // answer; the mapping stays in this call.
        let mut anonymizer = self.call.anonymize.then(Anonymizer::new);
        let messages: Vec<Message> = match anonymizer.as_mut() {
            Some(anonymizer) => messages
                .into_iter()
                .map(|m| Message::new(m.role, anonymizer.mask(&m.content)))
                .collect(),
            None => messages,
        };
        let digest = prompt_digest(&messages);
        let result = self.backend.chat(messages, options).await;
        if let Some(anonymizer) = &anonymizer
            && !matches!(result, Err(CapabilityError::NotConfigured(_)))
        {
            // That it happened is recorded; what was replaced never is.
            self.call.audit(AuditEvent {
                action: "llm.anonymize".to_owned(),
                outcome: if anonymizer.replaced() > 0 {
                    "masked"
                } else {
                    "nothing_to_mask"
                }
                .to_owned(),
                prompt_digest: Some(digest.clone()),
                ..AuditEvent::default()
            });
        }
        // Only prompts that reached a model are worth a record (of what
        // the model saw and said: placeholders, when anonymized).
        if !matches!(result, Err(CapabilityError::NotConfigured(_))) {
            self.call.audit(AuditEvent {
                action: "llm.chat".to_owned(),
                outcome: match &result {
                    Ok(_) => "ok",
                    Err(err) => err.kind().as_str(),
                }
                .to_owned(),
                prompt_digest: Some(digest),
                response_digest: result
                    .as_ref()
                    .ok()
                    .map(|r| sc_core::digest(r.content.as_bytes())),
                ..AuditEvent::default()
            });
        }
        let answer: ChatResponse = result?;
        let content = match &anonymizer {
            Some(anonymizer) => anonymizer.unmask(&answer.content),
            None => answer.content,
        };
        Ok(wit::ChatResponse {
            content,

            model: answer.model,
            prompt_tokens: answer.prompt_tokens,
            completion_tokens: answer.completion_tokens,
            latency_ms: answer.latency_ms,
        })
    }

    async fn embed(&mut self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, CallError> {
        self.call.charge()?;
        self.call.grants.llm()?;
        Ok(self.backend.embed(texts).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_digest_depends_on_roles_and_texts_only() {
        let a = [
            Message::new(Role::System, "be brief"),
            Message::new(Role::User, "hi"),
        ];
        let b = [
            Message::new(Role::User, "be brief"),
            Message::new(Role::User, "hi"),
        ];
        assert_ne!(prompt_digest(&a), prompt_digest(&b));
        // Pinned: a change in the bindings' types must not move the digests
        // already in audit trails.
        assert_eq!(
            prompt_digest(&a),
            sc_core::digest(br#"[["system","be brief"],["user","hi"]]"#)
        );
    }
}
