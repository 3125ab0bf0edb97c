-- Generated from annotation_core/schema.py by `make schema`. Do not edit by hand.

CREATE TABLE rate_limits (
	rate_key VARCHAR(191) NOT NULL, 
	window_started_at DATETIME(6) NOT NULL, 
	hits INTEGER NOT NULL, 
	PRIMARY KEY (rate_key)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE TABLE users (
	id BIGINT NOT NULL AUTO_INCREMENT, 
	username VARCHAR(64) NOT NULL, 
	password_hash VARCHAR(255) NOT NULL, 
	`role` VARCHAR(16) NOT NULL, 
	disabled BOOL NOT NULL DEFAULT false, 
	must_change_password BOOL NOT NULL DEFAULT false, 
	session_epoch INTEGER NOT NULL DEFAULT '0', 
	created_at DATETIME(6) NOT NULL, 
	updated_at DATETIME(6) NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (username), 
	CONSTRAINT user_role CHECK (`role` IN ('admin', 'member', 'viewer'))
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE TABLE api_tokens (
	id BIGINT NOT NULL AUTO_INCREMENT, 
	user_id BIGINT NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	token_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME(6) NOT NULL, 
	last_used_at DATETIME(6), 
	PRIMARY KEY (id), 
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE, 
	UNIQUE (token_hash)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX ix_api_tokens_user_id ON api_tokens (user_id);

CREATE TABLE images (
	id BIGINT NOT NULL AUTO_INCREMENT, 
	original_key VARCHAR(255) NOT NULL, 
	filename VARCHAR(255) NOT NULL, 
	mime_type VARCHAR(64) NOT NULL, 
	size_bytes BIGINT NOT NULL, 
	width INTEGER NOT NULL, 
	height INTEGER NOT NULL, 
	sha256 VARCHAR(64) NOT NULL, 
	uploaded_at DATETIME(6) NOT NULL, 
	updated_at DATETIME(6) NOT NULL, 
	thumbnail_status VARCHAR(16) NOT NULL DEFAULT 'pending', 
	thumbnail_key VARCHAR(255), 
	thumbnail_error TEXT, 
	thumbnail_attempts INTEGER NOT NULL DEFAULT '0', 
	thumbnail_started_at DATETIME(6), 
	thumbnail_finished_at DATETIME(6), 
	thumbnail_next_attempt_at DATETIME(6), 
	thumbnail_queued_at DATETIME(6), 
	caption_status VARCHAR(16) NOT NULL DEFAULT 'pending', 
	caption TEXT, 
	caption_model VARCHAR(128), 
	caption_error TEXT, 
	caption_attempts INTEGER NOT NULL DEFAULT '0', 
	caption_started_at DATETIME(6), 
	caption_finished_at DATETIME(6), 
	caption_next_attempt_at DATETIME(6), 
	caption_queued_at DATETIME(6), 
	alt_text TEXT, 
	tags TEXT, 
	text_in_image TEXT, 
	caption_provider VARCHAR(32), 
	caption_prompt_version VARCHAR(16), 
	caption_language VARCHAR(35), 
	caption_input_tokens INTEGER, 
	caption_output_tokens INTEGER, 
	caption_latency_ms INTEGER, 
	captioned_at DATETIME(6), 
	edited_caption TEXT, 
	edited_alt_text TEXT, 
	edited_tags TEXT, 
	edited_at DATETIME(6), 
	uploaded_by BIGINT, 
	preview_key VARCHAR(255), 
	thumbnail_width INTEGER, 
	thumbnail_height INTEGER, 
	preview_width INTEGER, 
	preview_height INTEGER, 
	placeholder VARCHAR(64), 
	taken_at DATETIME(6), 
	camera_make VARCHAR(64), 
	camera_model VARCHAR(128), 
	lens_model VARCHAR(128), 
	exposure_seconds DOUBLE, 
	f_number DOUBLE, 
	iso INTEGER, 
	focal_length_mm DOUBLE, 
	has_location BOOL, 
	latitude DOUBLE, 
	longitude DOUBLE, 
	deleted_at DATETIME(6), 
	PRIMARY KEY (id), 
	UNIQUE (original_key), 
	UNIQUE (sha256), 
	CONSTRAINT thumbnail_status_state CHECK (thumbnail_status IN ('pending', 'processing', 'completed', 'failed')), 
	CONSTRAINT caption_status_state CHECK (caption_status IN ('pending', 'processing', 'completed', 'failed')), 
	CONSTRAINT fk_images_uploaded_by FOREIGN KEY(uploaded_by) REFERENCES users (id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX ix_images_caption_status ON images (caption_status, deleted_at, id);

CREATE INDEX ix_images_deleted_at ON images (deleted_at, id);

CREATE FULLTEXT INDEX ix_images_fulltext ON images (caption, alt_text, tags, text_in_image, edited_caption, edited_alt_text, edited_tags, filename);

CREATE INDEX ix_images_taken_at ON images (taken_at, id);

CREATE INDEX ix_images_thumbnail_status ON images (thumbnail_status, deleted_at, id);

CREATE INDEX ix_images_uploaded_by ON images (uploaded_by, uploaded_at);
