-- Generated from annotation_core/schema.py by `make schema`. Do not edit by hand.

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
	PRIMARY KEY (id), 
	UNIQUE (original_key), 
	UNIQUE (sha256), 
	CONSTRAINT thumbnail_status_state CHECK (thumbnail_status IN ('pending', 'processing', 'completed', 'failed')), 
	CONSTRAINT caption_status_state CHECK (caption_status IN ('pending', 'processing', 'completed', 'failed'))
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX ix_images_caption_status ON images (caption_status);

CREATE FULLTEXT INDEX ix_images_fulltext ON images (caption, filename);

CREATE INDEX ix_images_taken_at ON images (taken_at, id);

CREATE INDEX ix_images_thumbnail_status ON images (thumbnail_status);
