//! `POST /api/assets` as multipart: the `file` part streams straight into the assets bucket
//! (never held in memory); the asset's fields come as a `json` part (the old client's form) or
//! as plain parts (`name`, `parent_id`, `content_type`, `workflow_id`, `metadata`).

use futures_util::{StreamExt, TryStreamExt};
use http::header;
use http_body_util::BodyExt;
use platform_middleware::body::BoxError;
use serde_json::{Map, Value};

use super::{acting_user, insert_checked, new_id, valid_name};
use crate::assets::{file_key, Asset, NewAsset};
use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::storage::{ByteStream, Key};

/// Largest non-file part read.
const FIELD_MAX: usize = 64 * 1024;
/// Room for the parts besides the file within the whole body's limit.
const FORM_SLACK: u64 = 1024 * 1024;

/// The asset's fields as the form gave them.
#[derive(Default)]
struct Fields(Map<String, Value>);

impl Fields {
    fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }
}

/// What was stored of the `file` part.
struct File {
    key: Key,
    size: u64,
    file_name: Option<String>,
    part_type: Option<String>,
}

pub(super) async fn receive(mut ctx: Ctx) -> Result<Asset, ApiError> {
    let user = acting_user(&ctx, None)?;
    let boundary = ctx
        .parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| ApiError::BadRequest("multipart body without a boundary".into()))?;
    let limit = ctx.state.storage.max_upload;
    ctx.refuse_declared_over(limit + FORM_SLACK).await?;
    let body = ctx.take_body()?;
    let constraints = multer::Constraints::new()
        .size_limit(multer::SizeLimit::new().whole_stream(limit + FORM_SLACK));
    let mut form =
        multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let id = new_id();
    let mut fields = Fields::default();
    let mut file: Option<File> = None;
    let result = async {
        while let Some(mut part) = form.next_field().await.map_err(form_error)? {
            match part.name().unwrap_or_default() {
                "file" if file.is_none() => {
                    file = Some(store_file(&ctx, &id, &fields, part, limit).await?);
                }
                "file" => {
                    return Err(ApiError::BadRequest(
                        "only one file part is accepted".into(),
                    ))
                }
                "json" => {
                    let text = read_text(&mut part).await?;
                    match serde_json::from_str(&text) {
                        Ok(Value::Object(map)) => fields.0.extend(map),
                        _ => {
                            return Err(ApiError::BadRequest(
                                "the json part must be a JSON object".into(),
                            ))
                        }
                    }
                }
                name @ ("name" | "parent_id" | "content_type" | "workflow_id" | "metadata") => {
                    let name = name.to_owned();
                    let text = read_text(&mut part).await?;
                    let value = if name == "metadata" {
                        serde_json::from_str(&text)
                            .map_err(|_| ApiError::BadRequest("metadata must be JSON".into()))?
                    } else {
                        Value::String(text)
                    };
                    fields.0.insert(name, value);
                }
                _ => {} // other parts are skipped
            }
        }
        Ok(())
    }
    .await;
    let bucket = ctx.state.storage.assets.clone();
    let remove_file = |file: &Option<File>| {
        let (bucket, key) = (bucket.clone(), file.as_ref().map(|f| f.key.clone()));
        async move {
            if let Some(key) = key {
                let _ = bucket.delete(&key).await;
            }
        }
    };
    if let Err(e) = result {
        remove_file(&file).await;
        return Err(e);
    }
    let Some(stored) = &file else {
        return Err(ApiError::BadRequest(
            "multipart upload needs a 'file' part".into(),
        ));
    };
    let made = new_asset(id, user, &fields, stored);
    let made = match made {
        Ok(new) => insert_checked(&ctx, new).await,
        Err(e) => Err(e),
    };
    if made.is_err() {
        remove_file(&file).await;
    }
    made
}

fn new_asset(id: String, user: String, fields: &Fields, file: &File) -> Result<NewAsset, ApiError> {
    let name = fields
        .text("name")
        .or_else(|| file.file_name.clone())
        .unwrap_or_else(|| "upload".into());
    Ok(NewAsset {
        id,
        parent_id: Some(fields.text("parent_id").unwrap_or(user.clone())),
        user_id: user,
        name: valid_name(&name)?,
        content_type: content_type(fields, file.part_type.as_deref(), file.file_name.as_deref()),
        size: i64::try_from(file.size).ok(),
        metadata: fields.0.get("metadata").cloned().filter(|m| !m.is_null()),
        workflow_id: fields.text("workflow_id"),
        created_at: None,
    })
}

/// The asset's type: as given, else the part's own (unless generic), else by the file name.
fn content_type(fields: &Fields, part: Option<&str>, file_name: Option<&str>) -> String {
    fields
        .text("content_type")
        .or_else(|| {
            part.filter(|t| *t != "application/octet-stream")
                .map(Into::into)
        })
        .or_else(|| {
            file_name
                .and_then(|n| mime_guess::from_path(n).first_raw())
                .map(Into::into)
        })
        .unwrap_or_else(|| "application/octet-stream".into())
}

async fn store_file(
    ctx: &Ctx,
    id: &str,
    fields: &Fields,
    part: multer::Field<'static>,
    limit: u64,
) -> Result<File, ApiError> {
    let file_name = part.file_name().map(str::to_owned);
    let part_type = part.content_type().map(|m| m.essence_str().to_owned());
    let kind = content_type(fields, part_type.as_deref(), file_name.as_deref());
    let key = file_key(id, &kind)
        .and_then(|k| Key::parse(&k).ok())
        .ok_or_else(|| ApiError::BadRequest("an upload cannot be a folder".into()))?;
    let mut stream: ByteStream = part.map_err(BoxError::from).boxed();
    let stored = ctx
        .state
        .storage
        .assets
        .put(&key, &mut stream, limit)
        .await?;
    Ok(File {
        key,
        size: stored.meta.size,
        file_name,
        part_type,
    })
}

async fn read_text(part: &mut multer::Field<'static>) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = part.chunk().await.map_err(form_error)? {
        if buf.len() + chunk.len() > FIELD_MAX {
            return Err(ApiError::BadRequest(format!(
                "form fields are limited to {FIELD_MAX} bytes"
            )));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf).map_err(|_| ApiError::BadRequest("form fields must be UTF-8".into()))
}

fn form_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { limit } => ApiError::PayloadTooLarge {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        },
        multer::Error::StreamReadFailed(e) => ApiError::body_read(e),
        other => ApiError::BadRequest(format!("Invalid multipart body: {other}")),
    }
}
