CREATE TABLE leases (
	name VARCHAR(200) NOT NULL, 
	owner VARCHAR(100) NOT NULL, 
	expires_at FLOAT NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE plugin_guild_state (
	plugin VARCHAR(100) NOT NULL, 
	guild_id BIGINT NOT NULL, 
	enabled BOOLEAN NOT NULL, 
	PRIMARY KEY (plugin, guild_id)
);
CREATE TABLE schema_migrations (
	plugin VARCHAR(100) NOT NULL, 
	version INTEGER NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	applied_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	PRIMARY KEY (plugin, version)
);
CREATE TABLE state_changes (
	id SERIAL NOT NULL, 
	kind VARCHAR(50) NOT NULL, 
	data TEXT NOT NULL, 
	origin VARCHAR(100) NOT NULL, 
	at FLOAT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_state_changes_at ON state_changes (at);
CREATE TABLE trained_models (
	id SERIAL NOT NULL, 
	provider VARCHAR(50) NOT NULL, 
	model_id VARCHAR(300) NOT NULL, 
	job_id INTEGER, 
	dataset VARCHAR(100), 
	labels TEXT DEFAULT '[]' NOT NULL, 
	active BOOLEAN DEFAULT false NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	instruction TEXT DEFAULT '' NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (model_id)
);
CREATE TABLE evaluation_runs (
	id SERIAL NOT NULL, 
	user_id BIGINT NOT NULL, 
	guild_id BIGINT, 
	channel_id BIGINT, 
	source_kind VARCHAR(20) NOT NULL, 
	source VARCHAR(200) NOT NULL, 
	data_hash VARCHAR(64) NOT NULL, 
	provider VARCHAR(50) NOT NULL, 
	model_id VARCHAR(300) NOT NULL, 
	example_count INTEGER NOT NULL, 
	accuracy FLOAT NOT NULL, 
	macro_f1 FLOAT NOT NULL, 
	metrics TEXT NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_evaluation_runs_data_hash ON evaluation_runs (data_hash);
CREATE INDEX ix_evaluation_runs_user_id ON evaluation_runs (user_id);
CREATE TABLE evaluation_review_items (
	id SERIAL NOT NULL, 
	run_id INTEGER NOT NULL, 
	text TEXT NOT NULL, 
	expected VARCHAR(100) NOT NULL, 
	predicted TEXT NOT NULL, 
	status VARCHAR(10) DEFAULT 'open' NOT NULL, 
	resolved_by BIGINT, 
	resolved_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id), 
	FOREIGN KEY(run_id) REFERENCES evaluation_runs (id) ON DELETE CASCADE
);
CREATE INDEX ix_evaluation_review_items_run_id ON evaluation_review_items (run_id);
CREATE TABLE datasets (
	id SERIAL NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	labels TEXT NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	PRIMARY KEY (id), 
	UNIQUE (name)
);
CREATE TABLE training_jobs (
	id SERIAL NOT NULL, 
	dataset VARCHAR(100) NOT NULL, 
	provider VARCHAR(50) NOT NULL, 
	provider_job_id VARCHAR(200), 
	status VARCHAR(20) NOT NULL, 
	snapshot TEXT NOT NULL, 
	example_count INTEGER NOT NULL, 
	model_id VARCHAR(300), 
	error TEXT, 
	events TEXT DEFAULT '[]' NOT NULL, 
	channel_id BIGINT, 
	message_id BIGINT, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	instruction TEXT DEFAULT '' NOT NULL, 
	start_key VARCHAR(100), 
	files TEXT DEFAULT '{}' NOT NULL, 
	event_ids TEXT DEFAULT '[]' NOT NULL, 
	accuracy FLOAT, 
	baseline_accuracy FLOAT, 
	activation TEXT, 
	PRIMARY KEY (id)
);
CREATE TABLE examples (
	id SERIAL NOT NULL, 
	dataset_id INTEGER NOT NULL, 
	text TEXT NOT NULL, 
	label VARCHAR(100) NOT NULL, 
	source VARCHAR(20) NOT NULL, 
	author_id BIGINT, 
	hash VARCHAR(64) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	PRIMARY KEY (id), 
	UNIQUE (dataset_id, hash), 
	FOREIGN KEY(dataset_id) REFERENCES datasets (id) ON DELETE CASCADE
);
CREATE TABLE voice_listen_guilds (
	guild_id BIGSERIAL NOT NULL, 
	enabled_by BIGINT NOT NULL, 
	enabled_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	PRIMARY KEY (guild_id)
);
CREATE TABLE voice_listen_optouts (
	user_id BIGSERIAL NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	PRIMARY KEY (user_id)
);
CREATE TABLE voice_transcripts (
	id SERIAL NOT NULL, 
	guild_id BIGINT NOT NULL, 
	channel_id BIGINT NOT NULL, 
	message_id BIGINT, 
	user_id BIGINT NOT NULL, 
	transcript TEXT NOT NULL, 
	answer TEXT, 
	audio_path VARCHAR(500), 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_voice_transcripts_user_id ON voice_transcripts (user_id);
CREATE TABLE bot_answers (
	message_id BIGSERIAL NOT NULL, 
	channel_id BIGINT NOT NULL, 
	guild_id BIGINT, 
	user_id BIGINT NOT NULL, 
	prompt TEXT NOT NULL, 
	answer TEXT NOT NULL, 
	provider VARCHAR(50) NOT NULL, 
	model_id VARCHAR(300), 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	PRIMARY KEY (message_id)
);
CREATE TABLE chat_channels (
	channel_id BIGSERIAL NOT NULL, 
	guild_id BIGINT NOT NULL, 
	PRIMARY KEY (channel_id)
);
CREATE TABLE chat_guilds (
	guild_id BIGSERIAL NOT NULL, 
	instruction TEXT, 
	PRIMARY KEY (guild_id)
);
CREATE TABLE chat_turns (
	id SERIAL NOT NULL, 
	channel_id BIGINT NOT NULL, 
	user_id BIGINT, 
	role VARCHAR(10) NOT NULL, 
	content TEXT NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_chat_turns_channel_id ON chat_turns (channel_id);
CREATE TABLE speech_languages (
	scope VARCHAR(10) NOT NULL, 
	target_id BIGINT NOT NULL, 
	language VARCHAR(20) NOT NULL, 
	PRIMARY KEY (scope, target_id)
);
CREATE TABLE feedback (
	id SERIAL NOT NULL, 
	user_id BIGINT NOT NULL, 
	guild_id BIGINT, 
	channel_id BIGINT, 
	message_id BIGINT, 
	kind VARCHAR(10) NOT NULL, 
	text TEXT, 
	rating INTEGER, 
	reaction VARCHAR(10), 
	prompt TEXT, 
	answer TEXT, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	asker_id BIGINT, 
	answer_guild_id BIGINT, 
	answer_channel_id BIGINT, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_feedback_message_id ON feedback (message_id);
CREATE INDEX ix_feedback_user_id ON feedback (user_id);
CREATE TABLE corrections (
	id SERIAL NOT NULL, 
	message_id BIGINT NOT NULL, 
	channel_id BIGINT, 
	guild_id BIGINT, 
	author_id BIGINT NOT NULL, 
	asker_id BIGINT, 
	prompt TEXT NOT NULL, 
	answer TEXT NOT NULL, 
	correction TEXT NOT NULL, 
	instruction TEXT DEFAULT '' NOT NULL, 
	source VARCHAR(10) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE DEFAULT CURRENT_TIMESTAMP, 
	PRIMARY KEY (id), 
	UNIQUE (message_id, author_id)
);
CREATE INDEX ix_corrections_asker_id ON corrections (asker_id);
CREATE INDEX ix_corrections_author_id ON corrections (author_id);
CREATE INDEX ix_corrections_message_id ON corrections (message_id);
