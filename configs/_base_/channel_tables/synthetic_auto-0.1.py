# Copyright (c) deepmark_mm contributors. All rights reserved.
# Written by tools/analysis_tools/auto_shared_channels.py.
kpt_heatmap_channels = dict(
    source='automatic grouping of deepfashion2_train.json (threshold 0.1, min_count 1)',
    num_channels=66,
    slot_to_channel=[
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
        24, 0, 1, 2, 3, 4, 5, 6, 25, 9, 26, 27, 28, 29, 12, 10, 30, 31, 13, 14, 15, 16, 17, 32,
        33, 20, 18, 34, 35, 36, 37, 21, 38, 24, 0, 1, 2, 39, 4, 40, 6, 7, 8, 9, 10, 11, 12, 13,
        14, 41, 16, 17, 18, 19, 20, 21, 22, 23, 24, 5, 42, 43, 44, 45, 46, 0, 1, 2, 39, 4, 5, 6,
        25, 9, 26, 27, 28, 29, 12, 10, 30, 31, 13, 14, 41, 16, 17, 32, 33, 20, 18, 34, 35, 36,
        37, 21, 38, 24, 40, 42, 43, 44, 45, 46, 0, 47, 2, 3, 4, 48, 49, 50, 28, 51, 15, 52, 35,
        53, 54, 3, 47, 55, 56, 57, 48, 6, 50, 28, 51, 15, 52, 35, 53, 24, 49, 0, 54, 9, 51, 41,
        58, 44, 52, 21, 49, 0, 54, 7, 26, 51, 41, 42, 3, 45, 44, 52, 37, 23, 6, 0, 24, 25, 51,
        15, 52, 38, 0, 1, 2, 59, 4, 5, 6, 49, 7, 25, 60, 61, 30, 12, 29, 62, 51, 15, 52, 63, 34,
        18, 33, 64, 65, 38, 23, 54, 24, 0, 1, 2, 59, 4, 5, 6, 49, 25, 9, 50, 26, 10, 11, 60, 61,
        30, 31, 29, 62, 51, 15, 52, 63, 34, 32, 33, 64, 65, 19, 20, 37, 53, 21, 38, 54, 24, 0,
        1, 2, 59, 4, 5, 6, 60, 30, 12, 28, 51, 15, 52, 35, 18, 33, 65, 24, 59, 1, 2, 3, 4, 5,
        47, 60, 30, 12, 28, 51, 15, 52, 35, 18, 33, 65, 48
    ],
    channel_names=[
        'group_of_slot_0', 'group_of_slot_1', 'group_of_slot_2', 'group_of_slot_3',
        'group_of_slot_4', 'group_of_slot_5', 'group_of_slot_6', 'group_of_slot_7',
        'group_of_slot_8', 'group_of_slot_9', 'group_of_slot_10', 'group_of_slot_11',
        'group_of_slot_12', 'group_of_slot_13', 'group_of_slot_14', 'group_of_slot_15',
        'group_of_slot_16', 'group_of_slot_17', 'group_of_slot_18', 'group_of_slot_19',
        'group_of_slot_20', 'group_of_slot_21', 'group_of_slot_22', 'group_of_slot_23',
        'group_of_slot_24', 'group_of_slot_32', 'group_of_slot_34', 'group_of_slot_35',
        'group_of_slot_36', 'group_of_slot_37', 'group_of_slot_40', 'group_of_slot_41',
        'group_of_slot_47', 'group_of_slot_48', 'group_of_slot_51', 'group_of_slot_52',
        'group_of_slot_53', 'group_of_slot_54', 'group_of_slot_56', 'group_of_slot_61',
        'group_of_slot_63', 'group_of_slot_73', 'group_of_slot_84', 'group_of_slot_85',
        'group_of_slot_86', 'group_of_slot_87', 'group_of_slot_88', 'group_of_slot_129',
        'group_of_slot_133', 'group_of_slot_134', 'group_of_slot_135', 'group_of_slot_137',
        'group_of_slot_139', 'group_of_slot_141', 'group_of_slot_142', 'group_of_slot_145',
        'group_of_slot_146', 'group_of_slot_147', 'group_of_slot_164', 'group_of_slot_193',
        'group_of_slot_200', 'group_of_slot_201', 'group_of_slot_205', 'group_of_slot_209',
        'group_of_slot_213', 'group_of_slot_214'
    ])
