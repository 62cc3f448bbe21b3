//! SQL of identity's people: logins, profiles (employees, contacts).
//!
//! Profiles are read through [`PROFILE_SELECT`], which gives a
//! CONSUMER_SUB_PROFILE its parent's channels (R1.7: a sub-profile holds no
//! credentials of its own).

use chrono::{DateTime, Utc};
use csm_changefeed::{NewChange, Operation};
use csm_db::{DbRow, PageRequest, Tx, db_error, on_unique_violation, with_db, with_tx};
use csm_errors::{CsmError, CsmResult};
use csm_types::{AccountId, ConsumerId, DepartmentId, LoginId, ProfileId, SecurityGroupId};
use uuid::Uuid;

use super::IdentityStore;
use super::directory::{like_prefix_pattern, page_after, where_clause};
use crate::domain::people::{
    Login, PersonDetails, Profile, ProfileDraft, ProfileKind, format_channels, parse_channels,
};

const LOGIN_COLUMNS: &str = "id, login_name, enabled, default_profile_id, password_hash, password_updated_at, \
                             last_login_at, created_at, updated_at";

/// Every column of a profile; `p` is the profile, `parent` its CONSUMER
/// profile when it is a sub-profile.
const PROFILE_SELECT: &str = "SELECT p.id, p.kind, p.login_id, p.display_name, p.first_name, p.middle_name, \
     p.last_name, p.email, p.mobile_phone, p.business_phone, p.home_phone, p.active, p.application, p.account_id, \
     p.consumer_id, p.parent_profile_id, p.consumer_profile_id, p.sub_profile_type, p.manager_profile_id, \
     p.department_id, p.title, p.security_group_id, COALESCE(parent.channels, p.channels) AS channels, \
     p.created_at, p.updated_at \
     FROM profiles p LEFT JOIN profiles parent \
     ON parent.id = p.parent_profile_id AND p.kind = 'consumer_sub_profile'";

/// The contact kinds (R1.2), as stored.
const CONTACT_KINDS_SQL: &str = "('contact', 'partner_contact')";

/// Longest management chain followed when looking for cycles (R6.4); a
/// longer chain than any real organisation, so the walk always ends.
const MANAGER_CHAIN_LIMIT: usize = 10_000;

/// One bound value of a query built at run time.
#[derive(Debug, Clone)]
enum Bind {
    Uuid(Uuid),
    Text(String),
    Int(i64),
}

/// Filters of ListProfiles (R1.9, R6.3–R6.5); they combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileFilter {
    pub kind: Option<ProfileKind>,
    pub login: Option<LoginId>,
    pub account: Option<AccountId>,
    pub department: Option<DepartmentId>,
    pub manager: Option<ProfileId>,
    pub security_group: Option<SecurityGroupId>,
    pub include_inactive: bool,
}

/// The password hash of a login, with what StartSession needs to know.
#[derive(Debug, Clone)]
pub struct LoginCredentials {
    pub login: Login,
    /// The stored slow hash; None when no password is set.
    pub password_hash: Option<String>,
}

impl IdentityStore {
    // ------------------------------------------------------------- logins

    /// Inserts a login. ALREADY_EXISTS reason LOGIN_NAME_TAKEN when its name
    /// (compared case-insensitively) is in use.
    pub async fn insert_login(
        &self,
        tx: &mut Tx,
        id: LoginId,
        login_name: &str,
        name_key: &str,
        password_hash: Option<&str>,
    ) -> CsmResult<Login> {
        let now = csm_db::now();
        let result = with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO logins (id, login_name, login_name_key, enabled, password_hash, password_updated_at, \
                 created_at, updated_at) VALUES ($1, $2, $3, TRUE, $4, $5, $6, $6)",
            )
            .bind(id.as_uuid())
            .bind(login_name)
            .bind(name_key)
            .bind(password_hash)
            .bind(password_hash.map(|_| now))
            .bind(now)
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        result.map_err(|error| login_name_error(error, login_name))?;
        Ok(Login {
            id,
            login_name: login_name.to_owned(),
            enabled: true,
            default_profile: None,
            profile_ids: Vec::new(),
            has_password: password_hash.is_some(),
            password_updated_at: password_hash.map(|_| now),
            last_login_at: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// Takes the login's row lock (a no-op UPDATE: the write comes first, see
    /// store/mod.rs). False when there is no such login.
    pub async fn lock_login(&self, tx: &mut Tx, id: LoginId) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let locked = sqlx::query("UPDATE logins SET updated_at = updated_at WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            Ok(locked.rows_affected() > 0)
        })
    }

    pub async fn get_login(&self, id: LoginId) -> CsmResult<Option<Login>> {
        let credentials = with_db!(self.db(), |pool| {
            let row = sqlx::query(&format!("SELECT {LOGIN_COLUMNS} FROM logins WHERE id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(credentials_from_row).transpose()?
        });
        let Some(mut credentials) = credentials else {
            return Ok(None);
        };
        credentials.login.profile_ids = self.profile_ids_of_login(id).await?;
        Ok(Some(credentials.login))
    }

    /// A login with its password hash, read inside `tx`.
    pub async fn login_credentials_in(&self, tx: &mut Tx, id: LoginId) -> CsmResult<Option<LoginCredentials>> {
        let credentials = with_tx!(tx, |tx| {
            let row = sqlx::query(&format!("SELECT {LOGIN_COLUMNS} FROM logins WHERE id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
            row.as_ref().map(credentials_from_row).transpose()?
        });
        let Some(mut credentials) = credentials else {
            return Ok(None);
        };
        credentials.login.profile_ids = with_tx!(tx, |tx| {
            let rows = sqlx::query("SELECT id FROM profiles WHERE login_id = $1 ORDER BY id")
                .bind(id.as_uuid())
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
            rows.iter()
                .map(|row| row.uuid("id").map(ProfileId::from_uuid).map_err(db_error))
                .collect::<CsmResult<Vec<_>>>()?
        });
        Ok(Some(credentials))
    }

    /// A login by its name key, with its password hash (StartSession).
    pub async fn login_credentials_by_name(&self, name_key: &str) -> CsmResult<Option<LoginCredentials>> {
        let credentials = with_db!(self.db(), |pool| {
            let row = sqlx::query(&format!("SELECT {LOGIN_COLUMNS} FROM logins WHERE login_name_key = $1"))
                .bind(name_key)
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(credentials_from_row).transpose()?
        });
        let Some(mut credentials) = credentials else {
            return Ok(None);
        };
        credentials.login.profile_ids = self.profile_ids_of_login(credentials.login.id).await?;
        Ok(Some(credentials))
    }

    async fn profile_ids_of_login(&self, id: LoginId) -> CsmResult<Vec<ProfileId>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query("SELECT id FROM profiles WHERE login_id = $1 ORDER BY id")
                .bind(id.as_uuid())
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(|row| row.uuid("id").map(ProfileId::from_uuid).map_err(db_error)).collect()
        })
    }

    /// Writes the updatable fields of `login` (name, enabled, default profile).
    pub async fn save_login(&self, tx: &mut Tx, login: &Login, name_key: &str) -> CsmResult<()> {
        let result = with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE logins SET login_name = $2, login_name_key = $3, enabled = $4, default_profile_id = $5, \
                 updated_at = $6 WHERE id = $1",
            )
            .bind(login.id.as_uuid())
            .bind(&login.login_name)
            .bind(name_key)
            .bind(login.enabled)
            .bind(login.default_profile.map(|id| *id.as_uuid()))
            .bind(login.updated_at)
            .execute(&mut **tx)
            .await
            .map(|done| done.rows_affected())
        });
        result.map(|_| ()).map_err(|error| login_name_error(error, &login.login_name))
    }

    /// Replaces the login's password hash.
    pub async fn set_password_hash(&self, tx: &mut Tx, id: LoginId, hash: &str, now: DateTime<Utc>) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE logins SET password_hash = $2, password_updated_at = $3, updated_at = $3 WHERE id = $1",
            )
            .bind(id.as_uuid())
            .bind(hash)
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        Ok(())
    }

    /// Records a successful login.
    pub async fn set_last_login(&self, tx: &mut Tx, id: LoginId, now: DateTime<Utc>) -> CsmResult<()> {
        with_tx!(tx, |tx| {
            sqlx::query("UPDATE logins SET last_login_at = $2 WHERE id = $1")
                .bind(id.as_uuid())
                .bind(now)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
        });
        Ok(())
    }

    /// One page of logins ordered by id, optionally by name prefix (case-insensitive).
    pub async fn list_logins(&self, page: &PageRequest, name_prefix: Option<&str>) -> CsmResult<Vec<Login>> {
        let mut filters = Vec::new();
        let mut binds = Vec::new();
        if let Some(after) = page_after(page)? {
            binds.push(Bind::Uuid(after));
            filters.push(format!("id > ${}", binds.len()));
        }
        if let Some(prefix) = name_prefix {
            binds.push(Bind::Text(like_prefix_pattern(prefix)));
            filters.push(format!("login_name_key LIKE ${} ESCAPE '\\'", binds.len()));
        }
        binds.push(Bind::Int(page.fetch_limit()));
        let sql =
            format!("SELECT {LOGIN_COLUMNS} FROM logins {} ORDER BY id LIMIT ${}", where_clause(&filters), binds.len());
        let mut logins: Vec<Login> = with_db!(self.db(), |pool| {
            let mut query = sqlx::query(&sql);
            for bind in &binds {
                query = match bind {
                    Bind::Uuid(value) => query.bind(*value),
                    Bind::Text(value) => query.bind(value.clone()),
                    Bind::Int(value) => query.bind(*value),
                };
            }
            let rows = query.fetch_all(pool).await.map_err(db_error)?;
            rows.iter()
                .map(|row| credentials_from_row(row).map(|credentials| credentials.login))
                .collect::<CsmResult<_>>()?
        });
        for login in &mut logins {
            login.profile_ids = self.profile_ids_of_login(login.id).await?;
        }
        Ok(logins)
    }

    /// Appends a "login" change.
    pub async fn append_login_change(&self, tx: &mut Tx, login: LoginId, operation: Operation) -> CsmResult<u64> {
        csm_changefeed::append(tx, &NewChange::new("login", login, operation).attribute("login_id", login)).await
    }

    // ----------------------------------------------------------- profiles

    /// Inserts a profile row. The caller has validated its references.
    pub async fn insert_profile(&self, tx: &mut Tx, draft: &ProfileDraft) -> CsmResult<Profile> {
        let now = csm_db::now();
        with_tx!(tx, |tx| {
            sqlx::query(
                "INSERT INTO profiles (id, kind, login_id, display_name, first_name, middle_name, last_name, email, \
                 mobile_phone, business_phone, home_phone, active, application, account_id, consumer_id, \
                 parent_profile_id, consumer_profile_id, sub_profile_type, manager_profile_id, department_id, title, \
                 security_group_id, channels, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, TRUE, $12, $13, $14, $15, $16, $17, $18, $19, \
                 $20, $21, $22, $23, $23)",
            )
            .bind(draft.id.as_uuid())
            .bind(draft.kind.as_str())
            .bind(draft.login.map(|id| *id.as_uuid()))
            .bind(&draft.display_name)
            .bind(&draft.details.first_name)
            .bind(&draft.details.middle_name)
            .bind(&draft.details.last_name)
            .bind(&draft.details.email)
            .bind(&draft.details.mobile_phone)
            .bind(&draft.details.business_phone)
            .bind(&draft.details.home_phone)
            .bind(&draft.application)
            .bind(draft.account.map(|id| *id.as_uuid()))
            .bind(draft.consumer.map(|id| *id.as_uuid()))
            .bind(draft.parent_profile.map(|id| *id.as_uuid()))
            .bind(draft.consumer_profile)
            .bind(&draft.sub_profile_type)
            .bind(draft.manager.map(|id| *id.as_uuid()))
            .bind(draft.department.map(|id| *id.as_uuid()))
            .bind(&draft.title)
            .bind(draft.security_group.map(|id| *id.as_uuid()))
            .bind(format_channels(&draft.channels))
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        self.profile_in(tx, draft.id)
            .await?
            .ok_or_else(|| CsmError::internal("an inserted profile cannot be read back"))
    }

    /// Takes the profile's row lock (no-op UPDATE). False when there is no such profile.
    pub async fn lock_profile(&self, tx: &mut Tx, id: ProfileId) -> CsmResult<bool> {
        with_tx!(tx, |tx| {
            let locked = sqlx::query("UPDATE profiles SET updated_at = updated_at WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            Ok(locked.rows_affected() > 0)
        })
    }

    pub async fn get_profile(&self, id: ProfileId) -> CsmResult<Option<Profile>> {
        with_db!(self.db(), |pool| {
            let row = sqlx::query(&format!("{PROFILE_SELECT} WHERE p.id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(pool)
                .await
                .map_err(db_error)?;
            row.as_ref().map(profile_from_row).transpose()
        })
    }

    pub async fn profile_in(&self, tx: &mut Tx, id: ProfileId) -> CsmResult<Option<Profile>> {
        with_tx!(tx, |tx| {
            let row = sqlx::query(&format!("{PROFILE_SELECT} WHERE p.id = $1"))
                .bind(id.as_uuid())
                .fetch_optional(&mut **tx)
                .await
                .map_err(db_error)?;
            row.as_ref().map(profile_from_row).transpose()
        })
    }

    /// The profiles among `ids` that exist (any order).
    pub async fn get_profiles(&self, ids: &[ProfileId]) -> CsmResult<Vec<Profile>> {
        let mut found = Vec::with_capacity(ids.len());
        // Chunks keep the parameter count well under both backends' limits.
        for chunk in ids.chunks(500) {
            let placeholders = (1..=chunk.len()).map(|index| format!("${index}")).collect::<Vec<_>>().join(", ");
            let sql = format!("{PROFILE_SELECT} WHERE p.id IN ({placeholders})");
            let rows: Vec<Profile> = with_db!(self.db(), |pool| {
                let mut query = sqlx::query(&sql);
                for id in chunk {
                    query = query.bind(*id.as_uuid());
                }
                let rows = query.fetch_all(pool).await.map_err(db_error)?;
                rows.iter().map(profile_from_row).collect::<CsmResult<_>>()?
            });
            found.extend(rows);
        }
        Ok(found)
    }

    /// Every profile of `login`, by id, read inside `tx`.
    pub async fn profiles_of_login_in(&self, tx: &mut Tx, login: LoginId) -> CsmResult<Vec<Profile>> {
        with_tx!(tx, |tx| {
            let rows = sqlx::query(&format!("{PROFILE_SELECT} WHERE p.login_id = $1 ORDER BY p.id"))
                .bind(login.as_uuid())
                .fetch_all(&mut **tx)
                .await
                .map_err(db_error)?;
            rows.iter().map(profile_from_row).collect()
        })
    }

    /// Every profile of `login`, by id.
    pub async fn profiles_of_login(&self, login: LoginId) -> CsmResult<Vec<Profile>> {
        with_db!(self.db(), |pool| {
            let rows = sqlx::query(&format!("{PROFILE_SELECT} WHERE p.login_id = $1 ORDER BY p.id"))
                .bind(login.as_uuid())
                .fetch_all(pool)
                .await
                .map_err(db_error)?;
            rows.iter().map(profile_from_row).collect()
        })
    }

    /// Writes every updatable column of `profile` (its own channels: a
    /// sub-profile's are never written here).
    pub async fn save_profile(&self, tx: &mut Tx, profile: &Profile) -> CsmResult<()> {
        let own_channels = if profile.kind == ProfileKind::ConsumerSubProfile {
            String::new()
        } else {
            format_channels(&profile.channels)
        };
        with_tx!(tx, |tx| {
            sqlx::query(
                "UPDATE profiles SET login_id = $2, display_name = $3, first_name = $4, middle_name = $5, \
                 last_name = $6, email = $7, mobile_phone = $8, business_phone = $9, home_phone = $10, active = $11, \
                 application = $12, account_id = $13, manager_profile_id = $14, department_id = $15, title = $16, \
                 security_group_id = $17, channels = $18, updated_at = $19 WHERE id = $1",
            )
            .bind(profile.id.as_uuid())
            .bind(profile.login.map(|id| *id.as_uuid()))
            .bind(&profile.display_name)
            .bind(&profile.details.first_name)
            .bind(&profile.details.middle_name)
            .bind(&profile.details.last_name)
            .bind(&profile.details.email)
            .bind(&profile.details.mobile_phone)
            .bind(&profile.details.business_phone)
            .bind(&profile.details.home_phone)
            .bind(profile.active)
            .bind(&profile.application)
            .bind(profile.account.map(|id| *id.as_uuid()))
            .bind(profile.manager.map(|id| *id.as_uuid()))
            .bind(profile.department.map(|id| *id.as_uuid()))
            .bind(&profile.title)
            .bind(profile.security_group.map(|id| *id.as_uuid()))
            .bind(own_channels)
            .bind(profile.updated_at)
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        });
        Ok(())
    }

    /// Moves the CONSUMER_SUB_PROFILE profiles under `parent` to `login` (a
    /// sub-profile always belongs to its parent's login, R1.9). Returns their ids.
    pub async fn move_sub_profiles_to_login(
        &self,
        tx: &mut Tx,
        parent: ProfileId,
        login: Option<LoginId>,
        now: DateTime<Utc>,
    ) -> CsmResult<Vec<ProfileId>> {
        with_tx!(tx, |tx| {
            let rows = sqlx::query(
                "UPDATE profiles SET login_id = $2, updated_at = $3 \
                 WHERE parent_profile_id = $1 AND kind = 'consumer_sub_profile' RETURNING id",
            )
            .bind(parent.as_uuid())
            .bind(login.map(|id| *id.as_uuid()))
            .bind(now)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_error)?;
            rows.iter().map(|row| row.uuid("id").map(ProfileId::from_uuid).map_err(db_error)).collect()
        })
    }

    /// The management chain above `start`: its manager, that one's manager …
    /// (R6.4). Stops at the top, at a repeat or after [`MANAGER_CHAIN_LIMIT`].
    pub async fn manager_chain_in(&self, tx: &mut Tx, start: ProfileId) -> CsmResult<Vec<ProfileId>> {
        let mut chain = Vec::new();
        let mut current = start;
        while chain.len() < MANAGER_CHAIN_LIMIT {
            let manager = with_tx!(tx, |tx| {
                let row = sqlx::query("SELECT manager_profile_id FROM profiles WHERE id = $1")
                    .bind(current.as_uuid())
                    .fetch_optional(&mut **tx)
                    .await
                    .map_err(db_error)?;
                match row {
                    Some(row) => row.opt_uuid("manager_profile_id").map_err(db_error)?.map(ProfileId::from_uuid),
                    None => None,
                }
            });
            let Some(manager) = manager else { break };
            if manager == start || chain.contains(&manager) {
                chain.push(manager);
                break;
            }
            chain.push(manager);
            current = manager;
        }
        Ok(chain)
    }

    /// One page of profiles ordered by id (R1.9, R6.3–R6.5).
    pub async fn list_profiles(&self, filter: &ProfileFilter, page: &PageRequest) -> CsmResult<Vec<Profile>> {
        let mut filters = Vec::new();
        let mut binds = Vec::new();
        if let Some(after) = page_after(page)? {
            binds.push(Bind::Uuid(after));
            filters.push(format!("p.id > ${}", binds.len()));
        }
        if let Some(kind) = filter.kind {
            binds.push(Bind::Text(kind.as_str().to_owned()));
            filters.push(format!("p.kind = ${}", binds.len()));
        }
        let references = [
            ("p.login_id", filter.login.map(|id| *id.as_uuid())),
            ("p.account_id", filter.account.map(|id| *id.as_uuid())),
            ("p.department_id", filter.department.map(|id| *id.as_uuid())),
            ("p.manager_profile_id", filter.manager.map(|id| *id.as_uuid())),
            ("p.security_group_id", filter.security_group.map(|id| *id.as_uuid())),
        ];
        for (column, value) in references {
            if let Some(value) = value {
                binds.push(Bind::Uuid(value));
                filters.push(format!("{column} = ${}", binds.len()));
            }
        }
        if !filter.include_inactive {
            filters.push("p.active = TRUE".to_owned());
        }
        binds.push(Bind::Int(page.fetch_limit()));
        let sql = format!("{PROFILE_SELECT} {} ORDER BY p.id LIMIT ${}", where_clause(&filters), binds.len());
        self.fetch_profiles(&sql, &binds).await
    }

    /// One page of the contacts whose primary account is `account`, or, with
    /// `include_descendants`, any account of {account} ∪ DESC(account)
    /// (R1.4, R4.8, R4.9). DESC comes from the hierarchy's closure table
    /// (`account_ancestors`, which pairs every account with itself at depth 0).
    pub async fn list_account_contacts(
        &self,
        account: AccountId,
        include_descendants: bool,
        include_inactive: bool,
        page: &PageRequest,
    ) -> CsmResult<Vec<Profile>> {
        let mut binds = vec![Bind::Uuid(*account.as_uuid())];
        let mut filters = vec![format!("p.kind IN {CONTACT_KINDS_SQL}")];
        if include_descendants {
            filters.push(
                "p.account_id IN (SELECT descendant_id FROM account_ancestors WHERE ancestor_id = $1)".to_owned(),
            );
        } else {
            filters.push("p.account_id = $1".to_owned());
        }
        if let Some(after) = page_after(page)? {
            binds.push(Bind::Uuid(after));
            filters.push(format!("p.id > ${}", binds.len()));
        }
        if !include_inactive {
            filters.push("p.active = TRUE".to_owned());
        }
        binds.push(Bind::Int(page.fetch_limit()));
        let sql = format!("{PROFILE_SELECT} {} ORDER BY p.id LIMIT ${}", where_clause(&filters), binds.len());
        self.fetch_profiles(&sql, &binds).await
    }

    /// {account} ∪ DESC(account) (R3.1), for a delegated admin's scope (R4.8).
    pub async fn account_and_descendants(&self, account: AccountId) -> CsmResult<Vec<AccountId>> {
        with_db!(self.db(), |pool| {
            // The closure table pairs every account with itself at depth 0.
            let rows = sqlx::query(
                "SELECT descendant_id FROM account_ancestors WHERE ancestor_id = $1 ORDER BY descendant_id",
            )
            .bind(account.as_uuid())
            .fetch_all(pool)
            .await
            .map_err(db_error)?;
            rows.iter().map(|row| row.uuid("descendant_id").map(AccountId::from_uuid).map_err(db_error)).collect()
        })
    }

    async fn fetch_profiles(&self, sql: &str, binds: &[Bind]) -> CsmResult<Vec<Profile>> {
        with_db!(self.db(), |pool| {
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = match bind {
                    Bind::Uuid(value) => query.bind(*value),
                    Bind::Text(value) => query.bind(value.clone()),
                    Bind::Int(value) => query.bind(*value),
                };
            }
            let rows = query.fetch_all(pool).await.map_err(db_error)?;
            rows.iter().map(profile_from_row).collect()
        })
    }

    /// Appends a "profile" change carrying the profile's references and, for
    /// each reference that changed from `previous`, `previous_<key>`.
    pub async fn append_profile_change_of(
        &self,
        tx: &mut Tx,
        profile: &Profile,
        operation: Operation,
        previous: Option<&Profile>,
    ) -> CsmResult<u64> {
        csm_changefeed::append(tx, &profile_change(profile, operation, previous)).await
    }

    // ------------------------------------------------------- references

    /// Whether the department exists (R6.4 references).
    pub async fn department_exists(&self, id: DepartmentId) -> CsmResult<bool> {
        with_db!(self.db(), |pool| {
            let found: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM departments WHERE id = $1")
                .bind(id.as_uuid())
                .fetch_one(pool)
                .await
                .map_err(db_error)?;
            Ok(found > 0)
        })
    }
}

/// The "profile" change of `profile` (R1.9; Watch documents the attributes).
fn profile_change(profile: &Profile, operation: Operation, previous: Option<&Profile>) -> NewChange {
    let mut change = NewChange::new("profile", profile.id, operation).attribute("profile_id", profile.id);
    let references = |profile: &Profile| -> [(&'static str, Option<String>); 6] {
        [
            ("login_id", profile.login.map(|id| id.to_string())),
            ("account_id", profile.account.map(|id| id.to_string())),
            ("consumer_id", profile.consumer.map(|id| id.to_string())),
            ("manager_profile_id", profile.manager.map(|id| id.to_string())),
            ("department_id", profile.department.map(|id| id.to_string())),
            ("security_group_id", profile.security_group.map(|id| id.to_string())),
        ]
    };
    let current = references(profile);
    for (key, value) in &current {
        if let Some(value) = value {
            change = change.attribute(key, value);
        }
    }
    if let Some(previous) = previous {
        for ((key, now), (_, before)) in current.iter().zip(references(previous)) {
            if *now != before
                && let Some(before) = before
            {
                change = change.attribute(&format!("previous_{key}"), before);
            }
        }
    }
    change
}

fn login_name_error(error: sqlx::Error, login_name: &str) -> CsmError {
    on_unique_violation(error, || {
        CsmError::already_exists("LOGIN_NAME_TAKEN", format!("the login name {login_name:?} is taken"))
            .with_metadata("field", "login_name")
    })
}

fn credentials_from_row(row: &impl DbRow) -> CsmResult<LoginCredentials> {
    let password_hash = row.opt_text("password_hash").map_err(db_error)?;
    Ok(LoginCredentials {
        login: Login {
            id: LoginId::from_uuid(row.uuid("id").map_err(db_error)?),
            login_name: row.text("login_name").map_err(db_error)?,
            enabled: row.boolean("enabled").map_err(db_error)?,
            default_profile: row.opt_uuid("default_profile_id").map_err(db_error)?.map(ProfileId::from_uuid),
            profile_ids: Vec::new(),
            has_password: password_hash.is_some(),
            password_updated_at: row.opt_timestamp("password_updated_at").map_err(db_error)?,
            last_login_at: row.opt_timestamp("last_login_at").map_err(db_error)?,
            created_at: row.timestamp("created_at").map_err(db_error)?,
            updated_at: row.timestamp("updated_at").map_err(db_error)?,
        },
        password_hash,
    })
}

fn profile_from_row(row: &impl DbRow) -> CsmResult<Profile> {
    let kind = row.text("kind").map_err(db_error)?;
    let channels = row.text("channels").map_err(db_error)?;
    Ok(Profile {
        id: ProfileId::from_uuid(row.uuid("id").map_err(db_error)?),
        kind: ProfileKind::parse(&kind).ok_or_else(|| CsmError::internal(format!("unknown profile kind {kind:?}")))?,
        login: row.opt_uuid("login_id").map_err(db_error)?.map(LoginId::from_uuid),
        display_name: row.text("display_name").map_err(db_error)?,
        details: PersonDetails {
            first_name: row.text("first_name").map_err(db_error)?,
            middle_name: row.text("middle_name").map_err(db_error)?,
            last_name: row.text("last_name").map_err(db_error)?,
            email: row.text("email").map_err(db_error)?,
            mobile_phone: row.text("mobile_phone").map_err(db_error)?,
            business_phone: row.text("business_phone").map_err(db_error)?,
            home_phone: row.text("home_phone").map_err(db_error)?,
        },
        active: row.boolean("active").map_err(db_error)?,
        application: row.text("application").map_err(db_error)?,
        account: row.opt_uuid("account_id").map_err(db_error)?.map(AccountId::from_uuid),
        consumer: row.opt_uuid("consumer_id").map_err(db_error)?.map(ConsumerId::from_uuid),
        parent_profile: row.opt_uuid("parent_profile_id").map_err(db_error)?.map(ProfileId::from_uuid),
        consumer_profile: row.opt_uuid("consumer_profile_id").map_err(db_error)?,
        sub_profile_type: row.text("sub_profile_type").map_err(db_error)?,
        manager: row.opt_uuid("manager_profile_id").map_err(db_error)?.map(ProfileId::from_uuid),
        department: row.opt_uuid("department_id").map_err(db_error)?.map(DepartmentId::from_uuid),
        title: row.text("title").map_err(db_error)?,
        security_group: row.opt_uuid("security_group_id").map_err(db_error)?.map(SecurityGroupId::from_uuid),
        channels: parse_channels(&channels).map_err(CsmError::internal)?,
        created_at: row.timestamp("created_at").map_err(db_error)?,
        updated_at: row.timestamp("updated_at").map_err(db_error)?,
    })
}
