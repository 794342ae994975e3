//! Reading process files (YAML or JSON) into a [`ProcessSpec`].
//!
//! Parse errors carry the file, line, column and the path of the offending field, because
//! "invalid type: string, expected i32" alone does not tell a user which of forty tasks
//! to fix. Kinds and the DAG are checked by the coordinator (it knows which kinds its
//! workers serve); this module only checks that the file has the right shape.
use crate::error::{Error, SpecFileError};
use std::path::Path;
use weft_model::ProcessSpec;

/// The two file formats, chosen by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecFormat {
    Yaml,
    Json,
}

impl SpecFormat {
    /// `.yaml`/`.yml` or `.json` (any case); `None` for anything else.
    pub fn from_path(path: &Path) -> Option<SpecFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "yaml" | "yml" => Some(SpecFormat::Yaml),
            "json" => Some(SpecFormat::Json),
            _ => None,
        }
    }
}

/// Reads and parses a process file. Duplicate YAML keys are an error.
pub fn load_spec_file(path: impl AsRef<Path>) -> Result<ProcessSpec, Error> {
    let path = path.as_ref();
    let format = SpecFormat::from_path(path).ok_or_else(|| Error::UnknownFileType { path: path.to_path_buf() })?;
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile { path: path.to_path_buf(), source })?;
    parse_spec(&text, format, path)
}

/// Parses process text; `origin` names it in errors (a path, or e.g. `<stdin>`).
pub fn parse_spec(text: &str, format: SpecFormat, origin: impl AsRef<Path>) -> Result<ProcessSpec, Error> {
    let origin = origin.as_ref();
    match format {
        SpecFormat::Yaml => parse_yaml(text, origin),
        SpecFormat::Json => parse_json(text, origin),
    }
    .map_err(Error::SpecFile)
}

fn parse_yaml(text: &str, origin: &Path) -> Result<ProcessSpec, Box<SpecFileError>> {
    // serde_path_to_error needs the deserializer itself; saphyr lends it through a closure.
    // Its default duplicate-key policy is to refuse, which is what we want for specs.
    let mut field = None;
    let result = serde_saphyr::with_deserializer_from_str(text, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            field = field_path(e.path());
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let location = e.location();
        let line = location.map(|l| l.line() as usize);
        let column = location.map(|l| l.column() as usize);
        let plain = e.render_with_options(serde_saphyr::render_options! { snippets: serde_saphyr::SnippetMode::Off });
        let origin_name = origin.display().to_string();
        let rendered = e.render_with_options(serde_saphyr::render_options! { source_name: Some(&origin_name) });
        Box::new(SpecFileError {
            path: origin.to_path_buf(),
            line,
            column,
            field,
            message: tidy_yaml_message(&plain, line, column),
            // Without a location the rendering is just the message again. Its first line
            // ("error: line 5 column 15: ...") repeats what Display already says.
            snippet: location.is_some().then(|| match rendered.split_once('\n') {
                Some((first, rest)) if first.starts_with("error:") => rest.to_string(),
                _ => rendered,
            }),
        })
    })
}

fn parse_json(text: &str, origin: &Path) -> Result<ProcessSpec, Box<SpecFileError>> {
    let json_error = |field: Option<String>, e: serde_json::Error| {
        let (line, column) = (e.line(), e.column());
        let message = e.to_string();
        let suffix = format!(" at line {line} column {column}");
        Box::new(SpecFileError {
            path: origin.to_path_buf(),
            line: (line > 0).then_some(line),
            column: (column > 0).then_some(column),
            field,
            message: message.strip_suffix(&suffix).unwrap_or(&message).to_string(),
            snippet: None,
        })
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let spec =
        serde_path_to_error::deserialize(&mut de).map_err(|e| json_error(field_path(e.path()), e.into_inner()))?;
    // Trailing text after the object ("}}" or a second document) is an error, as in from_str.
    de.end().map_err(|e| json_error(None, e))?;
    Ok(spec)
}

/// `.` and `?` are what serde_path_to_error reports for "the document itself" and
/// "somewhere it could not track"; neither helps a reader.
fn field_path(path: &serde_path_to_error::Path) -> Option<String> {
    let text = path.to_string();
    (text != "." && text != "?" && !text.is_empty()).then_some(text)
}

/// Drops the location suffix (we report it separately) and the hint aimed at developers
/// embedding saphyr, which is no use to someone editing a file.
fn tidy_yaml_message(plain: &str, line: Option<usize>, column: Option<usize>) -> String {
    let mut message = plain.trim();
    if let (Some(line), Some(column)) = (line, column) {
        let suffix = format!(" at line {line}, column {column}");
        message = message.strip_suffix(&suffix).unwrap_or(message);
    }
    let message = message.strip_suffix(", set DuplicateKeyPolicy in Options if acceptable").unwrap_or(message);
    message.to_string()
}

#[cfg(test)]
mod tests;
