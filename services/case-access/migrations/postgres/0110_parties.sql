-- Related parties, sold products and install base (R5.6–R5.11, R4.10): the
-- lookups the R5.11 case condition and the asset lists read.
CREATE INDEX cases_install_base_item ON cases (install_base_item_id, id);
CREATE INDEX install_base_items_parent ON install_base_items (parent_id, id);
CREATE INDEX install_base_asset_contacts_contact ON install_base_asset_contacts (contact_id, install_base_item_id);
ALTER TABLE related_parties ALTER COLUMN sort_order TYPE BIGINT;
