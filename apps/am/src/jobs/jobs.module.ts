import { DynamicModule, Module } from '@nestjs/common';
import { CheckpointReports } from './checkpoint-reports';
import { CheckpointStore } from './checkpoint-store';
import { FailoverService } from './failover.service';
import { FeatureClient } from './feature-client';
import { InferenceJobs } from './inference-jobs.service';
import { JobControl } from './job-control.service';
import { JobLedger } from './job-ledger';
import { JobReports } from './job-reports.service';
import { JobScheduler } from './job-scheduler.service';
import { JobSubmission } from './job-submission.service';
import { JobsController } from './jobs.controller';
import { JobsHandlers } from './jobs.handlers';
import { JOBS_SETTINGS, JobsSettings, LAYOUT_PLANNER, LayoutPlanner } from './jobs.tokens';
import { tfjsLayoutPlanner } from './layout-planner';
import { ModelRegistryService } from './model-registry.service';
import { ModelsController } from './models.controller';
import { StreamJobs } from './stream-jobs.service';
import { StreamSnapshots } from './stream-snapshots';

/**
 * Jobs and the model catalogue of the AM. `nodes` is the app's NodesModule (the same dynamic
 * module object, so the registry and commander are shared, not duplicated).
 */
@Module({})
export class JobsModule {
  static forRoot(
    settings: JobsSettings,
    nodes: DynamicModule,
    layoutPlanner: LayoutPlanner = tfjsLayoutPlanner,
  ): DynamicModule {
    return {
      module: JobsModule,
      imports: [nodes],
      controllers: [JobsController, ModelsController, JobsHandlers],
      providers: [
        { provide: JOBS_SETTINGS, useValue: settings },
        { provide: LAYOUT_PLANNER, useValue: layoutPlanner },
        JobLedger,
        JobControl,
        FeatureClient,
        CheckpointStore,
        CheckpointReports,
        FailoverService,
        ModelRegistryService,
        StreamSnapshots,
        StreamJobs,
        InferenceJobs,
        JobSubmission,
        JobReports,
        JobScheduler,
      ],
      exports: [JobLedger, ModelRegistryService],
    };
  }
}
