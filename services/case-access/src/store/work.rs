//! SQL of case updates, comments, attachments and tasks.
