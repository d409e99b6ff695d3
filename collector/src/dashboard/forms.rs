//! Form bodies as name/value pairs, read with typed getters whose errors name the field (so a
//! bad number becomes a message on the page, not a bare 422).

use axum::Form;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An `application/x-www-form-urlencoded` body, fields in order (repeats kept).
#[derive(Debug, Clone, Default)]
pub struct Fields(pub Vec<(String, String)>);

/// A form body that could not be read.
pub struct BadForm(String);

impl IntoResponse for BadForm {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, format!("form: {}", self.0)).into_response()
    }
}

impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = BadForm;

    async fn from_request(req: Request, state: &S) -> Result<Self, BadForm> {
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, state)
            .await
            .map_err(|e| BadForm(e.body_text()))?;
        Ok(Fields(pairs))
    }
}

impl Fields {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (checkbox groups).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A non-empty trimmed text.
    pub fn text(&self, name: &str) -> Result<String, String> {
        match self.get(name).map(str::trim) {
            Some(v) if !v.is_empty() => Ok(v.to_string()),
            _ => Err(format!("{name}: required")),
        }
    }

    /// A trimmed text, `None` when empty or absent.
    pub fn opt_text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// A finite number, `None` when empty or absent.
    pub fn opt_f64(&self, name: &str) -> Result<Option<f64>, String> {
        match self.opt_text(name) {
            None => Ok(None),
            Some(v) => match v.parse::<f64>() {
                Ok(x) if x.is_finite() => Ok(Some(x)),
                _ => Err(format!("{name}: {v:?} is not a number")),
            },
        }
    }

    /// A required finite number.
    pub fn f64(&self, name: &str) -> Result<f64, String> {
        self.opt_f64(name)?
            .ok_or_else(|| format!("{name}: required"))
    }

    /// A whole number, `None` when empty or absent.
    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, String> {
        match self.opt_text(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{name}: {v:?} is not a whole number >= 0")),
        }
    }

    /// True when the checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| !v.is_empty())
    }
}
