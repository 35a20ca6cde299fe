import { Module } from '@nestjs/common';
import { UnoJobsModule } from '../lib/index.js';
import { MonitoringModule } from './monitoring.js';
import { AccountService, EmailService, ReportService, ThumbnailService } from './services.js';
import { sampleStorage } from './storage.js';

@Module({
  imports: [
    UnoJobsModule.forRoot({
      storage: sampleStorage(),
      worker: { concurrency: 4, shutdownGraceMs: 5_000 },
      // Cluster-wide figures are flushed to the store every second here (default 5 s), so GET /stats shows them soon.
      monitoring: { flushIntervalMs: 1000 },
      queues: { images: { concurrency: 8 } },
    }),
    MonitoringModule,
  ],
  providers: [ReportService, EmailService, ThumbnailService, AccountService],
})
export class AppModule {}
